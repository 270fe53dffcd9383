package kube

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParsePointer splits a JSON pointer (RFC 6901) such as /spec/replicas into
// its reference tokens, unescaped: ~1 stands for "/" and ~0 for "~", so
// /metadata/annotations/example.com~1note names the annotation
// example.com/note. "" is the whole document: no tokens.
func ParsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return nil, fmt.Errorf("%q is not a JSON pointer: it must start with /, as /spec/replicas", p)
	}
	tokens := strings.Split(rest, "/")
	for i, t := range tokens {
		if strings.Count(t, "~") != strings.Count(t, "~0")+strings.Count(t, "~1") {
			return nil, fmt.Errorf("%q is not a JSON pointer: ~ must be followed by 0 (for ~) or 1 (for /)", p)
		}
		// ~1 first, so that ~01 is the text ~1, not /.
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

// removePointers deletes the values the pointers point to from doc (decoded
// JSON), each at least one token long. A path that is not there is skipped.
// They are removed in reverse order so that deleting an array element never
// shifts an element a later pointer names: /a/1 goes before /a/0.
func removePointers(doc map[string]any, pointers [][]string) {
	pointers = slices.Clone(pointers)
	slices.SortFunc(pointers, func(a, b []string) int { return -comparePointers(a, b) })
	for _, p := range pointers {
		removePointer(doc, p)
	}
}

// comparePointers orders pointers token by token: array indices by number,
// before other tokens, which go by text.
func comparePointers(a, b []string) int {
	for i := range min(len(a), len(b)) {
		x, xok := arrayIndex(a[i])
		y, yok := arrayIndex(b[i])
		var c int
		switch {
		case xok && yok:
			c = cmp.Compare(x, y)
		case xok:
			c = -1
		case yok:
			c = 1
		default:
			c = strings.Compare(a[i], b[i])
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// removePointer deletes the value tokens point to under v and returns v (an
// array without the element, when the value was one), then drops the maps
// on the way that are empty, on both sides of a comparison alike: a field
// set on one side only must not leave an empty map as a difference.
func removePointer(v any, tokens []string) any {
	switch v := v.(type) {
	case map[string]any:
		child, ok := v[tokens[0]]
		switch {
		case !ok:
		case len(tokens) == 1:
			delete(v, tokens[0])
		default:
			child = removePointer(child, tokens[1:])
			if m, isMap := child.(map[string]any); isMap && len(m) == 0 {
				delete(v, tokens[0])
			} else {
				v[tokens[0]] = child
			}
		}
		return v
	case []any:
		i, ok := arrayIndex(tokens[0])
		if !ok || i >= len(v) {
			return v
		}
		if len(tokens) == 1 {
			return slices.Delete(v, i, i+1)
		}
		v[i] = removePointer(v[i], tokens[1:])
		return v
	}
	return v
}

// arrayIndex parses an array index token: digits without a leading zero.
// "-" (past the last element) and anything else name no element.
func arrayIndex(t string) (int, bool) {
	if t == "" || (len(t) > 1 && t[0] == '0') || strings.TrimLeft(t, "0123456789") != "" {
		return 0, false
	}
	i, err := strconv.Atoi(t)
	return i, err == nil
}
