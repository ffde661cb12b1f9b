package checks

// Category groups checks by what they protect, as the sections of docs/checks.md do. Reports
// carry it: a PolicyReport result's category, a SARIF rule's tags.
type Category string

const (
	// HostIsolation: the node's namespaces, file system, ports and processes.
	HostIsolation Category = "Host isolation"
	// Privilege: privileged containers, capabilities and the kernel's confinement (the
	// baseline Pod Security Standard).
	Privilege Category = "Privilege"
	// LeastPrivilege: non-root, no escalation, dropped capabilities, a read-only file system
	// (the restricted Pod Security Standard and NSA/CISA).
	LeastPrivilege Category = "Least privilege"
	// Resources: requests and limits against resource theft.
	Resources Category = "Resources"
	// SupplyChain: where images come from, how they are pinned, and the credentials pods hold.
	SupplyChain Category = "Supply chain and credentials"
	// AccessControl: who is granted what through RBAC.
	AccessControl Category = "Access control"
	// NamespaceGuardrails: what a whole namespace may use and reach (quotas, limit ranges,
	// network policies).
	NamespaceGuardrails Category = "Namespace guardrails"
)

// Categories lists the categories in the order of docs/checks.md.
var Categories = []Category{HostIsolation, Privilege, LeastPrivilege, Resources, SupplyChain, AccessControl, NamespaceGuardrails}
