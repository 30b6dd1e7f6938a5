//go:build !linux

package l2

import "errors"

func openLinkEvents() (linkEvents, error) {
	return nil, errors.New("link change events need Linux rtnetlink")
}
