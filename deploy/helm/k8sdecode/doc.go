// Package k8sdecode decodes the Helm chart's rendered manifests strictly
// against the Kubernetes API types (k8s.io/api). It is a module of its own:
// k8s.io/api takes over a minute to compile cold on two cores and would
// slow every build and -race rebuild of the main module, which has no other
// use for it. Run it with
//
//	cd deploy/helm/k8sdecode && go test ./...
//
// (helm on PATH or in $(go env GOPATH)/bin: go install helm.sh/helm/v4/cmd/helm@v4.3.2).
package k8sdecode
