package baremetal

import (
	"k8s.io/client-go/rest"

	"github.com/frontdesk-lb/frontdesk/api/client"
)

// poolClient is what the provider writes of IPPools: their status only.
type poolClient = poolStatusWriter

type apiClients struct {
	set    client.Interface
	pools  poolClient
	allocs ipAllocations
}

func newAPIClients(cfg *rest.Config) (apiClients, error) {
	c, err := client.NewForConfig(cfg)
	if err != nil {
		return apiClients{}, err
	}
	return apiClients{set: c, pools: c.IPPools(), allocs: c.IPAllocations()}, nil
}
