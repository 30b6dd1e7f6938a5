// Package frontdesk gives Go code the files of the Helm chart it needs, so that tests and tools
// use exactly what the chart ships: the CRDs, generated into crds/ by `make generate`.
package frontdesk

import "embed"

// CRDs holds crds/*.yaml, one CustomResourceDefinition per file.
//
//go:embed crds/*.yaml
var CRDs embed.FS
