package supervisor

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"

	"github.com/frontdesk-lb/frontdesk/lab/router"
	"github.com/frontdesk-lb/frontdesk/lab/topology"
)

// gobgpRepo is the repository of the GoBGP image make images builds (hack/images).
const gobgpRepo = "gobgp"

// routerContainer is how the router's containerd runs gobgpd.
func (o Options) routerContainer(image string) router.Container {
	runc, _ := exec.LookPath("runc")
	return router.Container{Lab: o.Name, Dir: filepath.Join(o.Dir, "router"), NodeBin: o.NodeBin, Runc: runc,
		Image: image, ConfDir: filepath.Join(o.Dir, "router", "gobgpd")}
}

// startRouter runs the router: gobgpd as a container of the GoBGP image built here, run by a
// containerd of the router's own in the router's namespace with host networking, and the syncer
// that installs its routes in the router's kernel table. The speakers peer with it once they
// speak BGP.
func (s *supervisor) startRouter(ctx context.Context, imgs nodeImages) error {
	c := s.o.routerContainer(imgs.gobgp)
	if err := c.Prepare(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.ConfDir, 0o755); err != nil {
		return err
	}
	conf := filepath.Join(c.ConfDir, "gobgpd.toml")
	if err := os.WriteFile(conf, []byte(router.Config(s.plan)), 0o644); err != nil {
		return err
	}
	ns := s.plan.NS(topology.RoleRouter)
	began := time.Now()
	s.start(ctx, proc{name: "router/containerd", ns: ns, argv: c.ContainerdArgs()})
	if err := c.Ctr().Wait(ctx, containerdStart); err != nil {
		return fmt.Errorf("%w; see %s", err, s.o.logPath("router_containerd"))
	}
	if err := c.Ctr().Import(ctx, imgs.gobgpArchive); err != nil {
		return fmt.Errorf("%w; see %s", err, s.o.logPath("router_containerd"))
	}
	s.start(ctx, proc{name: "gobgpd", ns: ns, before: c.RemoveStale,
		argv: c.RunArgs("-f", conf, "-p", "--api-hosts="+router.APIAddr, "--pprof-disable")})
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	s.wg.Go(func() {
		defer close(done)
		var nodes []netip.Addr
		for _, n := range s.plan.Nodes {
			nodes = append(nodes, n.IP)
		}
		router.Sync(sctx, ns, s.o.bin("gobgp"), nodes, klog.Background().WithName("router"))
	})
	s.procs.add(func() { cancel(); <-done })
	s.progressf("router: gobgpd (%s) in a container of the router's containerd (%s), AS %d on %s; nodes accepted as AS %d neighbours; its routes go to the router's table (ECMP)",
		imgs.gobgp, time.Since(began).Round(100*time.Millisecond), s.plan.RouterASN, s.plan.Router, s.plan.NodeASN)
	return nil
}

// RouterContainer is the router's gobgpd container of the lab o describes, for tests and
// status: its containerd and the task it runs (its Image is left empty).
func (o Options) RouterContainer() router.Container { return o.routerContainer("") }

// routerCtr is the ctr command line for the router's containerd.
func (o Options) routerCtr() string {
	c := o.RouterContainer().Ctr()
	return c.Bin + " --address=" + c.Socket + " --namespace=" + c.Namespace
}
