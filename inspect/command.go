package inspect

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/frontdesk-lb/frontdesk/api/client"
)

// NewCommand is `kubectl frontdesk`: kubectl's connection flags (--kubeconfig, --context, -n,
// ...), -A and -o, and the subcommands status and pools.
func NewCommand(out io.Writer) *cobra.Command {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	var output string
	var all bool
	root := &cobra.Command{
		Use:           "kubectl-frontdesk",
		Short:         "What frontdesk does for your LoadBalancer Services: addresses, pools, announcements, readiness",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	flags := root.PersistentFlags()
	flags.StringVar(&rules.ExplicitPath, "kubeconfig", "", "path to the kubeconfig file")
	clientcmd.BindOverrideFlags(overrides, flags, clientcmd.RecommendedConfigOverrideFlags(""))
	flags.StringVarP(&output, "output", "o", "", "output format: json, yaml or wide")
	flags.BoolVarP(&all, "all-namespaces", "A", false, "all namespaces")

	connect := func() (kubernetes.Interface, client.Interface, string, error) {
		if err := CheckOutput(output); err != nil {
			return nil, nil, "", err
		}
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
		cfg, err := cc.ClientConfig()
		if err != nil {
			return nil, nil, "", err
		}
		ns, _, err := cc.Namespace()
		if err != nil {
			return nil, nil, "", err
		}
		if all {
			ns = ""
		}
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, nil, "", err
		}
		api, err := client.NewForConfig(cfg)
		if err != nil {
			return nil, nil, "", err
		}
		return kube, api, ns, nil
	}

	root.AddCommand(&cobra.Command{
		Use:   "status [SERVICE...]",
		Short: "Each LoadBalancer Service: its addresses, their pool, who announces them, and its LoadBalancerReady condition",
		RunE: func(cmd *cobra.Command, names []string) error {
			kube, api, ns, err := connect()
			if err != nil {
				return err
			}
			if all && len(names) > 0 {
				return fmt.Errorf("name Services with -n, not with -A")
			}
			svcs, err := Status(cmd.Context(), kube, api, ns, names)
			if err != nil {
				return err
			}
			if len(svcs) == 0 && output != OutputJSON && output != OutputYAML {
				_, err := fmt.Fprintf(out, "No LoadBalancer Services in %s.\n", nsName(ns))
				return err
			}
			return PrintStatus(out, output, svcs, all)
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "why SERVICE",
		Short: "Walks the troubleshooting steps for one Service and names the first that fails, with what to do",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kube, api, ns, err := connect()
			if err != nil {
				return err
			}
			if all {
				return fmt.Errorf("why takes one Service: name its namespace with -n, not -A")
			}
			f, err := Why(cmd.Context(), kube, api, ns, args[0])
			if err != nil {
				return err
			}
			return PrintWhy(out, output, f)
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "pools",
		Short: "Each IPPool: addresses assigned per family, the Services holding them, and problems",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, api, _, err := connect()
			if err != nil {
				return err
			}
			pools, err := Pools(cmd.Context(), api)
			if err != nil {
				return err
			}
			if len(pools) == 0 && output != OutputJSON && output != OutputYAML {
				_, err := fmt.Fprintln(out, "No IPPools.")
				return err
			}
			return PrintPools(out, output, pools)
		},
	})
	return root
}
