// Package dns is berth's cluster DNS: it answers the names of the Kubernetes
// DNS-based service discovery specification for one cluster domain
// ("cluster.local" by default) from Services and discovery.k8s.io/v1
// EndpointSlices, as CoreDNS's kubernetes plugin does, and relays every other
// name to upstream resolvers.
//
// It owns the UDP and TCP sockets it is told to listen on and the answers for
// names under the cluster domain: A and AAAA records for Services (ClusterIPs,
// or the ready endpoints of headless Services), endpoint names, SRV records for
// named ports, CNAMEs for ExternalName Services, PTR records for ClusterIPs and
// headless endpoints, and pod names computed from the address in the name
// (CoreDNS's "pods insecure"). Names in the domain that no object backs get
// NXDOMAIN with the zone's SOA; names that exist without the asked type get an
// empty answer with the SOA.
//
// It must not write to the API, create the kube-dns Service or its endpoints
// (the server wires those), change the host's resolver configuration, or cache
// upstream answers: it reads the informer caches it is given and nothing else.
package dns
