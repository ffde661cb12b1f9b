package scan

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// Cluster describes a scan of a live cluster (bulwark scan --cluster) for the writers: where
// the objects were read and what the audit counted. The objects are located at the cluster
// rather than at a line of a file: their Results carry Docs made by Cluster.Document.
type Cluster struct {
	// Context is the kubeconfig context the scan used; empty when there is none (in-cluster
	// configuration).
	Context string
	// Server is the apiserver's URL.
	Server string
	// Namespace is the namespace scanned; empty when every namespace was.
	Namespace string
	// Read is the number of objects read; every one of them was Evaluated, found Exempt, or
	// Owned: controlled by an object already read (the pods of a Deployment's ReplicaSet),
	// counted against it and not listed.
	Read, Evaluated, Exempt, Owned int
}

// Source names the cluster where a file name would go: the context, or the server when there
// is no context.
func (c *Cluster) Source() string {
	if c.Context != "" {
		return c.Context
	}
	return c.Server
}

// Where names the cluster for people: `context "prod" (https://10.0.0.1:6443)`, preceded by
// `namespace "shop" of ` when one namespace was scanned.
func (c *Cluster) Where() string {
	s := c.Server
	if c.Context != "" {
		s = fmt.Sprintf("context %q (%s)", c.Context, c.Server)
	}
	if c.Namespace != "" {
		s = fmt.Sprintf("namespace %q of %s", c.Namespace, s)
	}
	return s
}

// Document stands for an object read from the cluster: its Source is the cluster's, it has no
// document number, line, JSON or YAML.
func (c *Cluster) Document(apiVersion, kind string) *Document {
	return &Document{Source: c.Source(), APIVersion: apiVersion, Kind: kind}
}

// objectURI is the object's URL on the apiserver, its location in SARIF:
// https://10.0.0.1:6443/apis/apps/v1/namespaces/shop/deployments/web.
func (c *Cluster) objectURI(r Result) string {
	gv, _ := schema.ParseGroupVersion(r.Doc.APIVersion)
	p := "/api/" + gv.Version
	if gv.Group != "" {
		p = "/apis/" + gv.Group + "/" + gv.Version
	}
	if r.Namespace != "" {
		p += "/namespaces/" + url.PathEscape(r.Namespace)
	}
	p += "/" + resourceOf(gv.WithKind(r.Doc.Kind)) + "/" + url.PathEscape(r.Name)
	return strings.TrimSuffix(c.Server, "/") + p
}

// resourceOf is the resource of a kind read from a cluster: one of podspec's, which are all the
// audit reads. Any other kind is given the resource apimachinery would guess for it.
func resourceOf(gvk schema.GroupVersionKind) string {
	if k, ok := podspec.Lookup(gvk.GroupKind()); ok {
		return k.Resource
	}
	plural, _ := meta.UnsafeGuessKindToResource(gvk)
	return plural.Resource
}
