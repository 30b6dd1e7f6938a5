package fakeaws

type classicLB struct {
	meta
	name   string
	groups []string
	tags   map[string]string
}

type elbState struct {
	lbs map[string]*classicLB // by name
}

func (e *elbState) init() { e.lbs = map[string]*classicLB{} }

func elbHandlers() map[string]handler { return map[string]handler{} }
