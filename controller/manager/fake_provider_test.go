package manager

import (
	cloudprovider "k8s.io/cloud-provider"

	"github.com/frontdesk-lb/frontdesk/controller/internal/fakelb"
)

// testProvider is a throwaway provider registered only in this package's test
// binary: a fake load balancer, nothing else.
const testProvider = "test-fake"

func init() {
	cloudprovider.RegisterCloudProvider(testProvider, (&fakelb.Cloud{Name: testProvider, LB: fakelb.New()}).Factory())
	knownProviders = append(knownProviders, testProvider)
}
