package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/exoprobe/exoprobe/cluster"
	"github.com/exoprobe/exoprobe/scheduler"
)

// clusterFlags are `run`'s --cluster.* flags, named and defaulted as
// Alertmanager's so that operators who run one know the other.
type clusterFlags struct {
	listen, advertise, name, label, keyFile                *string
	peers                                                  stringList
	gossip, pushPull, tcpTimeout, probeTimeout, probeEvery *time.Duration
	reconnect, settle                                      *time.Duration
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	c := &clusterFlags{
		listen: fs.String("cluster.listen-address", "", "host:port for cluster gossip (TCP and UDP), e.g. "+
			cluster.DefaultListenAddress+"; empty: run as a single instance that owns every check"),
		advertise: fs.String("cluster.advertise-address", "", "host:port the other members reach this one at (default: derived from the listen address)"),
		name:      fs.String("cluster.name", "", "this member's unique name, the input of ownership hashing (default: hostname:gossip-port, stable for a StatefulSet pod)"),
		label:     fs.String("cluster.label", "", "label isolating this cluster from others sharing the network (members with another label are refused)"),
		keyFile: fs.String("cluster.secret-key-file", "", "file holding the key (16, 24 or 32 bytes, raw or base64) that encrypts and authenticates gossip; "+
			"the same on every member. Without it anyone reaching the gossip port can join the cluster"),
		gossip:   fs.Duration("cluster.gossip-interval", cluster.DefaultGossipInterval, "interval between gossip messages (lower: faster propagation, more traffic)"),
		pushPull: fs.Duration("cluster.pushpull-interval", cluster.DefaultPushPullInterval, "interval of full state exchange with a random member"),
		tcpTimeout: fs.Duration("cluster.tcp-timeout", cluster.DefaultTCPTimeout,
			"timeout of TCP connections to members (push-pull, joins)"),
		probeTimeout: fs.Duration("cluster.probe-timeout", cluster.DefaultProbeTimeout, "time to wait for a member's ack before suspecting it"),
		probeEvery:   fs.Duration("cluster.probe-interval", cluster.DefaultProbeInterval, "interval between failure-detection probes of a random member"),
		reconnect:    fs.Duration("cluster.reconnect-interval", cluster.DefaultReconnectInterval, "interval between attempts to (re)join configured peers that are not members"),
		settle:       fs.Duration("cluster.settle-timeout", cluster.DefaultSettleTimeout, "longest wait at start for the membership to settle before taking on checks"),
	}
	fs.Var(&c.peers, "cluster.peer", "host:port of a member to join (repeatable; DNS names are re-resolved, e.g. a StatefulSet's pod names)")
	return c
}

// config returns the cluster configuration, or nil when no --cluster.*
// flag asks for one. A peer without a listen address listens on the
// default address, as Alertmanager does.
func (c *clusterFlags) config() (*cluster.Config, error) {
	if *c.listen == "" && len(c.peers) == 0 {
		if *c.keyFile != "" {
			return nil, errors.New("--cluster.secret-key-file without --cluster.listen-address or --cluster.peer")
		}
		return nil, nil
	}
	var key []byte
	if *c.keyFile != "" {
		b, err := os.ReadFile(*c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cluster.secret-key-file: %w", err)
		}
		// Base64 (openssl rand -base64 32) when it decodes to a valid
		// size, else the raw bytes: every member applies the same rule
		// to the same file.
		validSize := func(n int) bool { return n == 16 || n == 24 || n == 32 }
		if d, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b))); err == nil && validSize(len(d)) {
			key = d
		} else if validSize(len(b)) {
			key = b
		} else {
			return nil, fmt.Errorf("--cluster.secret-key-file %s: want the base64 of 16, 24 or 32 random bytes (openssl rand -base64 32), or the raw bytes", *c.keyFile)
		}
	}
	listen := *c.listen
	if listen == "" {
		listen = cluster.DefaultListenAddress
	}
	return &cluster.Config{ListenAddress: listen, AdvertiseAddress: *c.advertise, Peers: c.peers, Name: *c.name,
		Label: *c.label, GossipInterval: *c.gossip, PushPullInterval: *c.pushPull, TCPTimeout: *c.tcpTimeout,
		ProbeTimeout: *c.probeTimeout, ProbeInterval: *c.probeEvery, ReconnectInterval: *c.reconnect,
		SettleTimeout: *c.settle, SecretKey: key}, nil
}

// /api/v1/cluster: members and ownership (for a single instance: enabled
// false, every check its own).
func init() {
	mountHTTP(func(mux *http.ServeMux, rt *Runtime) {
		mux.Handle("GET /api/v1/cluster", rt.Cluster.Handler(rt.Scheduler.Placements))
	})
}

// clusterOf keeps a nil *cluster.Peer from becoming a non-nil interface.
func clusterOf(p *cluster.Peer) scheduler.Cluster {
	if p == nil {
		return nil
	}
	return p
}

// memberWebURL is the status page URL this member advertises to the others,
// which link the checks it owns to it. A listener on every address (":9465",
// as in a pod) is reached at the gossip advertise address's host (the pod
// IP: reachable from the other members, and an IP passes the DNS-rebinding
// guard); otherwise at the listener's own address.
func memberWebURL(httpAddr, webConfig, advertise string) string {
	u := statusURL(httpAddr, webConfig)
	ah, _, err := net.SplitHostPort(advertise)
	if err != nil || ah == "" {
		return u
	}
	h, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return u
	}
	if ip := net.ParseIP(h); h != "" && (ip == nil || !ip.IsUnspecified()) {
		return u
	}
	scheme, _, _ := strings.Cut(u, "://")
	return scheme + "://" + net.JoinHostPort(ah, port) + "/"
}
