package nodestatus

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// statusPatch returns the strategic merge patch that turns old's status into
// updated's, leaving the rest of the Node alone.
//
// status.addresses is declared to merge on its type, which would mix old and
// new addresses of the same type (or keep a stale one); when the addresses
// change, the patch replaces the whole list instead, as upstream does.
func statusPatch(old, updated *corev1.Node) ([]byte, error) {
	oldJSON, err := json.Marshal(corev1.Node{Status: old.Status})
	if err != nil {
		return nil, fmt.Errorf("encoding the old status: %w", err)
	}
	newJSON, err := json.Marshal(corev1.Node{Status: updated.Status})
	if err != nil {
		return nil, fmt.Errorf("encoding the new status: %w", err)
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldJSON, newJSON, corev1.Node{})
	if err != nil {
		return nil, fmt.Errorf("computing the status patch: %w", err)
	}
	if apiequality.Semantic.DeepEqual(old.Status.Addresses, updated.Status.Addresses) {
		return patch, nil
	}

	var doc map[string]any
	if err := json.Unmarshal(patch, &doc); err != nil {
		return nil, fmt.Errorf("decoding the status patch: %w", err)
	}
	status, _ := doc["status"].(map[string]any)
	if status == nil {
		status = map[string]any{}
		doc["status"] = status
	}
	delete(status, "$setElementOrder/addresses")
	addresses := []any{map[string]any{"$patch": "replace"}}
	for _, a := range updated.Status.Addresses {
		addresses = append(addresses, map[string]any{"type": string(a.Type), "address": a.Address})
	}
	status["addresses"] = addresses
	patch, err = json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding the status patch: %w", err)
	}
	return patch, nil
}
