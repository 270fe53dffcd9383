package printers

import (
	"strconv"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// discoveryKinds are the printed kinds of the discovery.k8s.io group.
func discoveryKinds() map[string]kind {
	return map[string]kind{
		"endpointslices": cellsOf(endpointSliceColumns(), endpointSliceCells),
	}
}

func endpointSliceColumns() []metav1.TableColumnDefinition {
	doc := discoveryv1.EndpointSlice{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameColumn(),
		column("AddressType", "string", doc["addressType"]),
		column("Ports", "string", doc["ports"]),
		column("Endpoints", "string", doc["endpoints"]),
		ageColumn(),
	}
}

// endpointSliceCells shows the first three ports (by number, else name, else "*")
// and the first three addresses.
func endpointSliceCells(es *discoveryv1.EndpointSlice, now time.Time) []any {
	ports := make([]string, len(es.Ports))
	for i, p := range es.Ports {
		switch {
		case p.Port != nil:
			ports[i] = strconv.Itoa(int(*p.Port))
		case p.Name != nil:
			ports[i] = *p.Name
		default:
			ports[i] = "*"
		}
	}
	var addresses []string
	for _, e := range es.Endpoints {
		addresses = append(addresses, e.Addresses...)
	}
	return []any{es.Name, string(es.AddressType), firstOf(ports, 3), firstOf(addresses, 3), since(es.CreationTimestamp, now)}
}
