// Command frontdesk-controller is frontdesk's cloud-controller-manager: the
// standard controller loops plus frontdesk's load-balancer service controller,
// for the cloud provider named by --cloud-provider. See
// docs/design/controller.md.
package main

import (
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/frontdesk-lb/frontdesk/controller/manager"
	// Providers register themselves under their --cloud-provider name when
	// imported.
	_ "github.com/frontdesk-lb/frontdesk/providers/aws"
	"github.com/frontdesk-lb/frontdesk/providers/baremetal"
)

func main() {
	// The first SIGTERM or SIGINT stops the command; a second one exits at once.
	cmd := manager.NewCommand(genericapiserver.SetupSignalHandler(),
		manager.ProviderFlags{Section: "baremetal provider", Add: baremetal.AddFlags})
	os.Exit(cli.Run(cmd))
}
