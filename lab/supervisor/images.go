package supervisor

import (
	"fmt"

	"github.com/distribution/reference"
)

// Repositories, by path without registry, of the images the lab deploys besides the Pods' own:
// frontdesk's (make images names them <registry>/frontdesk-lb/...) and the add-ons'.
const (
	controllerRepo = "frontdesk-lb/frontdesk-controller"
	speakerRepo    = "frontdesk-lb/frontdesk-speaker"
	corednsRepo    = "coredns/coredns"
	kubeProxyRepo  = "kube-proxy"
)

// deployImages are the images the lab deploys, found among those every node imported, so that
// the chart's values and the add-ons name exactly what the nodes hold.
type deployImages struct {
	registry, tag string // frontdesk's images: the chart's image.registry and tag
	coreDNS       string
	kubeProxy     string
}

// findDeployImages picks the deployed images from the nodes' image names.
func findDeployImages(names []string) (deployImages, error) {
	var d deployImages
	var controller, speaker reference.NamedTagged
	for _, name := range names {
		ref, err := reference.ParseNormalizedNamed(name)
		if err != nil {
			return d, fmt.Errorf("image %q: %w", name, err)
		}
		tagged, ok := ref.(reference.NamedTagged)
		if !ok {
			continue
		}
		// frontdesk's images under whatever registry they were built for; the add-ons' by
		// their familiar names.
		switch {
		case reference.Path(ref) == controllerRepo:
			controller = tagged
		case reference.Path(ref) == speakerRepo:
			speaker = tagged
		case reference.FamiliarName(ref) == corednsRepo:
			d.coreDNS = reference.FamiliarString(tagged)
		case reference.FamiliarName(ref) == kubeProxyRepo:
			d.kubeProxy = reference.FamiliarString(tagged)
		}
	}
	if controller == nil || speaker == nil {
		return d, fmt.Errorf("images: no %s or %s among the archives (make images builds them)", controllerRepo, speakerRepo)
	}
	if reference.Domain(controller) != reference.Domain(speaker) || controller.Tag() != speaker.Tag() {
		return d, fmt.Errorf("images: %s and %s differ in registry or tag: build them together (make images)", controller, speaker)
	}
	if d.coreDNS == "" {
		return d, fmt.Errorf("images: no %s image (make images FRONTDESK_COREDNS=... builds it; make lab does)", corednsRepo)
	}
	d.registry, d.tag = reference.Domain(controller), controller.Tag()
	return d, nil
}
