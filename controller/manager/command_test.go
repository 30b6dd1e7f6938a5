package manager

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"k8s.io/cloud-provider/app"
	"k8s.io/cloud-provider/names"

	"github.com/frontdesk-lb/frontdesk/controller/service"
)

// These tests stop before cloud-provider's RunE, which needs an API server;
// the integration test runs the whole command.

func TestControllerSetKeepsItsMeaning(t *testing.T) {
	sf := &serviceFlags{}
	got := controllerInitializers(sf, &nodePortFlags{}, &nodeProxyFlags{})
	wantNames := slices.Sorted(func(yield func(string) bool) {
		for name := range app.DefaultInitFuncConstructors {
			if !yield(name) {
				return
			}
		}
		if yield(NodePortUsageController) {
			yield(NodeProxyEventsController)
		}
	})
	wantNames = slices.Sorted(slices.Values(wantNames))
	if diff := cmp.Diff(wantNames, app.ControllerNames(got)); diff != "" {
		t.Errorf("controller names (-want +got):\n%s", diff)
	}
	ours := got[names.ServiceLBController]
	if ours.InitContext.ClientName != "service-controller" {
		t.Errorf("service controller client name = %q, want %q", ours.InitContext.ClientName, "service-controller")
	}
	if funcPointer(ours.Constructor) == funcPointer(app.StartServiceControllerWrapper) {
		t.Errorf("the service controller is still cloud-provider's")
	}
	// The package-level defaults must not have been changed in place.
	if funcPointer(app.DefaultInitFuncConstructors[names.ServiceLBController].Constructor) != funcPointer(app.StartServiceControllerWrapper) {
		t.Errorf("app.DefaultInitFuncConstructors was modified")
	}
	for name, c := range got {
		if name == names.ServiceLBController || name == NodePortUsageController || name == NodeProxyEventsController {
			continue
		}
		if funcPointer(c.Constructor) != funcPointer(app.DefaultInitFuncConstructors[name].Constructor) {
			t.Errorf("controller %q was changed", name)
		}
	}
}

// TestNodeProxyEventsOffByDefault: "*" leaves node-proxy-events out; with kube-proxy its Events
// would describe rules no node applies.
func TestNodeProxyEventsOffByDefault(t *testing.T) {
	NewCommand(make(chan struct{}))
	if !app.ControllersDisabledByDefault.Has(NodeProxyEventsController) {
		t.Errorf("%s is not disabled by default", NodeProxyEventsController)
	}
}

func funcPointer(f any) uintptr { return reflect.ValueOf(f).Pointer() }

func TestFlagDefaults(t *testing.T) {
	cmd := NewCommand(make(chan struct{}))
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"concurrent-service-syncs": "10",
		"load-balancer-class":      "[" + service.DefaultClass + "]",
		"serve-default-class":      "true",
		"leader-elect":             "true",
		// The node proxies' defaults (proxy.AddFlags), so that the Events match them.
		"allowed-external-ip-cidrs":      "[]",
		"max-ports-per-service":          "100",
		"max-endpoints-per-service-port": "5000",
	} {
		f := cmd.Flags().Lookup(flag)
		if f == nil {
			t.Errorf("no flag --%s", flag)
			continue
		}
		if f.DefValue != want {
			t.Errorf("--%s defaults to %q, want %q", flag, f.DefValue, want)
		}
	}
}

// TestProviderFlagsInHelp: a provider's flags parse and show in --help under their own section
// (cloud-provider prints only the named flag sets the command is built with).
func TestProviderFlagsInHelp(t *testing.T) {
	var got string
	cmd := NewCommand(make(chan struct{}), ProviderFlags{Section: "example provider", Add: func(fs *pflag.FlagSet) {
		fs.StringVar(&got, "example-range", "", "the example provider's range")
	}})
	if err := cmd.ParseFlags([]string{"--example-range=10.96.0.0/12"}); err != nil || got != "10.96.0.0/12" {
		t.Fatalf("--example-range: parsed %q, %v", got, err)
	}
	var help bytes.Buffer
	cmd.SetOut(&help)
	if err := cmd.Help(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Example provider flags:", "--example-range", "the example provider's range"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestServiceFlags(t *testing.T) {
	for _, tc := range []struct {
		name             string
		args             []string
		wantClasses      []string
		wantServeDefault bool
	}{
		{"defaults", nil, []string{service.DefaultClass}, true},
		{"comma-separated", []string{"--load-balancer-class=a.example/lb,b.example/lb"}, []string{"a.example/lb", "b.example/lb"}, true},
		{"repeated", []string{"--load-balancer-class=a.example/lb", "--load-balancer-class=b.example/lb"},
			[]string{"a.example/lb", "b.example/lb"}, true},
		{"default class off", []string{"--serve-default-class=false"}, []string{service.DefaultClass}, false},
		{"only the default class", []string{"--load-balancer-class="}, []string{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := NewCommand(make(chan struct{}))
			fs := cmd.Flags()
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			classes, err := fs.GetStringSlice("load-balancer-class")
			if err != nil {
				t.Fatal(err)
			}
			serveDefault, err := fs.GetBool("serve-default-class")
			if err != nil {
				t.Fatal(err)
			}
			got := (&serviceFlags{classes: classes, serveDefault: serveDefault}).config()
			if diff := cmp.Diff(tc.wantClasses, got.Classes); diff != "" {
				t.Errorf("classes (-want +got):\n%s", diff)
			}
			if got.ServeDefaultClass != tc.wantServeDefault {
				t.Errorf("ServeDefaultClass = %v, want %v", got.ServeDefaultClass, tc.wantServeDefault)
			}
		})
	}
}

func TestRefusesBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		wantIs  error
	}{
		{"unknown provider", []string{"--cloud-provider=nope"}, "--cloud-provider=nope: unknown cloud provider; accepted: " + testProvider, ErrUnknownProvider},
		{"no provider", nil, "--cloud-provider is required; accepted: " + testProvider, nil},
		{"external", []string{"--cloud-provider=external"}, "is itself the external cloud provider", nil},
		{"bad class", []string{"--cloud-provider=" + testProvider, "--load-balancer-class=not valid"}, `load-balancer class "not valid" is not valid`, nil},
		{"serves nothing", []string{"--cloud-provider=" + testProvider, "--load-balancer-class=", "--serve-default-class=false"},
			"no load-balancer class is served", service.ErrServesNothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := NewCommand(make(chan struct{}))
			cmd.SetArgs(tc.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Execute() = %v, want an error containing %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Execute() = %v, want errors.Is %v", err, tc.wantIs)
			}
		})
	}
}
