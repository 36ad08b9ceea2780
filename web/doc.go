// Package web is exoprobe's HTTP surface: Prometheus metrics, the JSON API
// (status, per-check history, events, retirement readiness), health
// endpoints and the human status page in English and Japanese. It only
// reads: every response is built at request time from a Source (the
// scheduler), so there is no second copy of check state to drift. Serve
// adds TLS and basic auth from a Prometheus exporter-toolkit web config
// file.
package web
