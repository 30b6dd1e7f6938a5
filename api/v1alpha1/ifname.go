package v1alpha1

import (
	"fmt"
	"strings"
)

// MaxInterfaceNameLength is the longest Linux interface name, in bytes: IFNAMSIZ (16) less the
// terminating NUL.
const MaxInterfaceNameLength = 15

// InterfaceNameError says why a name in L2AdvertisementSpec.Interfaces is not an interface name.
type InterfaceNameError struct {
	Name   string
	Reason string
}

func (e *InterfaceNameError) Error() string {
	return fmt.Sprintf("%q is not a Linux interface name: %s; want 1 to %d printable ASCII characters without /, : or whitespace, such as eth0 or bond0.100",
		e.Name, e.Reason, MaxInterfaceNameLength)
}

// ValidateInterfaceName checks name as the CRD's rule on spec.interfaces does, for objects the
// rule did not see (stored before it existed, or kept by validation ratcheting). It returns nil
// or an *InterfaceNameError.
func ValidateInterfaceName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "it is empty"
	case len(name) > MaxInterfaceNameLength:
		reason = fmt.Sprintf("it is %d bytes long", len(name))
	case name == "." || name == "..":
		reason = ". and .. are not allowed"
	case strings.Contains(name, "/"):
		reason = "it contains /"
	case strings.Contains(name, ":"):
		reason = "it contains : (eth0:1 is an address label; name the interface, eth0)"
	case strings.IndexFunc(name, func(r rune) bool { return r < '!' || r > '~' }) >= 0:
		reason = "it contains whitespace, a control character or non-ASCII"
	default:
		return nil
	}
	return &InterfaceNameError{Name: name, Reason: reason}
}
