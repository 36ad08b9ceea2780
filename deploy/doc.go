// Package deploy holds no code: it is the home of exoprobe's deployment files
// (systemd unit, Dockerfile, Kubernetes manifests, Prometheus rules and
// scrape config, Grafana dashboard). Its test keeps them true to the code —
// flags that `exoprobe run` has, metric names package web exports, the
// example configuration loading — because nothing else would notice when
// one of them drifts.
package deploy
