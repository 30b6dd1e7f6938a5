//go:build linux

package bgprouters

import (
	"net/netip"
	"testing"
	"time"
)

// The end-to-end test of speaker/agent wrote this configuration by hand before it used the
// fixture: the fixture renders it unchanged.
func TestGoBGPConfigPlain(t *testing.T) {
	got := gobgpConfig(t, Config{Router: netip.MustParseAddr("10.0.0.1"), RouterASN: 64512,
		Speakers: []netip.Addr{netip.MustParseAddr("10.0.0.11")}, SpeakerASN: 64513})
	want := `[global.config]
  as = 64512
  router-id = "10.0.0.1"
  port = 179
  local-address-list = ["10.0.0.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.0.0.11"
    peer-as = 64513
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`
	if got != want {
		t.Errorf("gobgpd.toml:\n%s\nwant:\n%s", got, want)
	}
}

func TestGoBGPConfigOptions(t *testing.T) {
	got := gobgpConfig(t, Config{Router: netip.MustParseAddr("10.0.0.1"), RouterASN: 64512,
		Speakers: []netip.Addr{netip.MustParseAddr("10.0.0.11")}, SpeakerASN: 64513, Password: "s3cret",
		Hold: 3 * time.Second, GTSM: true, BFD: BFD{Interval: 300 * time.Millisecond, Multiplier: 3}})
	want := `[global.config]
  as = 64512
  router-id = "10.0.0.1"
  port = 179
  local-address-list = ["10.0.0.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.0.0.11"
    peer-as = 64513
    auth-password = "s3cret"
  [neighbors.timers.config]
    hold-time = 3
    keepalive-interval = 1
  [neighbors.ttl-security.config]
    enabled = true
    ttl-min = 255
  [neighbors.bfd.config]
    enabled = true
    desired-minimum-tx-interval = 300000
    required-minimum-receive = 300000
    detection-multiplier = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`
	if got != want {
		t.Errorf("gobgpd.toml:\n%s\nwant:\n%s", got, want)
	}
}

func TestBIRDConfig(t *testing.T) {
	c := Config{Router: netip.MustParseAddr("10.0.0.1"), RouterASN: 64512, Speakers: []netip.Addr{netip.MustParseAddr("10.0.0.11")},
		SpeakerASN: 64512, Hold: 3 * time.Second, BFD: BFD{Interval: 300 * time.Millisecond, Multiplier: 3},
		Originate: netip.MustParsePrefix("192.0.2.0/24")}
	want := `router id 10.0.0.1;
protocol device {}
protocol direct { ipv4; interface "eth0"; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; merge paths on; }
protocol static announced { ipv4; route 192.0.2.0/24 blackhole; }
protocol bfd { interface "*" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; }; }
protocol bgp n0 {
  local 10.0.0.1 as 64512;
  neighbor 10.0.0.11 as 64512;
  connect retry time 1;
  error wait time 1, 2;
  hold time 3;
  keepalive time 1;
  bfd on;
  direct;
  ipv4 { import all; export where proto = "announced"; };
}
`
	if got := birdConfig(t, c); got != want {
		t.Errorf("bird.conf:\n%s\nwant:\n%s", got, want)
	}
}

func TestFRRConfig(t *testing.T) {
	c := Config{Router: netip.MustParseAddr("10.0.0.1"), RouterASN: 64512, Speakers: []netip.Addr{netip.MustParseAddr("10.0.0.11")},
		SpeakerASN: 64513, Password: "s3cret", Hold: 3 * time.Second, Originate: netip.MustParsePrefix("192.0.2.0/24")}
	want := `frr defaults traditional
hostname r
!
router bgp 64512
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 no bgp network import-check
 bgp bestpath as-path multipath-relax
 neighbor 10.0.0.11 remote-as 64513
 neighbor 10.0.0.11 timers connect 1
 neighbor 10.0.0.11 advertisement-interval 0
 neighbor 10.0.0.11 password s3cret
 neighbor 10.0.0.11 timers 1 3
 address-family ipv4 unicast
  network 192.0.2.0/24
  maximum-paths 8
  maximum-paths ibgp 8
 exit-address-family
!
`
	if got := frrConfig(t, c); got != want {
		t.Errorf("bgpd.conf:\n%s\nwant:\n%s", got, want)
	}
}
