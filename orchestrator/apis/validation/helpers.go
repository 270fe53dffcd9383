package validation

import (
	"fmt"
	"net"
	"reflect"
	"strconv"

	"github.com/google/go-cmp/cmp"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	v1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages users see, worded as upstream words them.
const (
	immutableMsg   = apivalidation.FieldImmutableErrorMsg // "field is immutable"
	notPositiveMsg = "must be greater than zero"
)

// messages turns the messages of a content check into Invalid errors on p.
func messages(p *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, value, msg))
	}
	return errs
}

// validName checks value with a name rule (without the prefix allowance).
func validName(name nameFunc, value string, p *field.Path) field.ErrorList {
	return messages(p, value, name(value, false))
}

func dnsLabel(value string, p *field.Path) field.ErrorList {
	return messages(p, value, utilvalidation.IsDNS1123Label(value))
}

func dnsSubdomain(value string, p *field.Path) field.ErrorList {
	return messages(p, value, utilvalidation.IsDNS1123Subdomain(value))
}

func qualifiedName(value string, p *field.Path) field.ErrorList {
	return messages(p, value, utilvalidation.IsQualifiedName(value))
}

func labelValue(value string, p *field.Path) field.ErrorList {
	return messages(p, value, utilvalidation.IsValidLabelValue(value))
}

func validateLabels(labels map[string]string, p *field.Path) field.ErrorList {
	return v1validation.ValidateLabels(labels, p)
}

func nonNegative(value int64, p *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(value, p)
}

// nonNegativePtr checks an optional count or duration when it is set.
func nonNegativePtr[T ~int32 | ~int64](value *T, p *field.Path) field.ErrorList {
	if value == nil {
		return nil
	}
	return nonNegative(int64(*value), p)
}

func immutable(value, old any, p *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(value, old, p)
}

// oneOf requires value and checks it is one of the supported values.
func oneOf[T ~string](value T, p *field.Path, supported ...T) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return supportedValue(value, p, supported...)
}

// supportedValue checks a set value is one of the supported values.
func supportedValue[T ~string](value T, p *field.Path, supported ...T) field.ErrorList {
	for _, s := range supported {
		if value == s {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, value, supported)}
}

func portNum(port int32, p *field.Path) field.ErrorList {
	return messages(p, port, utilvalidation.IsValidPortNum(int(port)))
}

// portNumOrName checks a port given by number or by the name of a container port.
func portNumOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return messages(p, port.IntValue(), utilvalidation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return messages(p, port.StrVal, utilvalidation.IsValidPortName(port.StrVal))
	}
	return field.ErrorList{field.InternalError(p, fmt.Errorf("unknown type: %v", port.Type))}
}

func validIP(value string, p *field.Path) field.ErrorList {
	return utilvalidation.IsValidIP(p, value)
}

// nonSpecialIP rejects the addresses endpoints and external IPs may not use.
func nonSpecialIP(value string, p *field.Path) field.ErrorList {
	ip := net.ParseIP(value)
	if ip == nil {
		return field.ErrorList{field.Invalid(p, value, "must be a valid IP address")}
	}
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(p, value, fmt.Sprintf("may not be unspecified (%v)", value)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(p, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(p, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(p, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

// intOrPercent checks a non-negative number or a percentage such as "25%".
func intOrPercent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return messages(p, v, utilvalidation.IsValidPercent(v.StrVal))
	case intstr.Int:
		return nonNegative(int64(v.IntValue()), p)
	}
	return field.ErrorList{field.Invalid(p, v, "must be an integer or percentage (e.g '5%')")}
}

// percent returns the value of a valid percentage.
func percent(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(utilvalidation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, err == nil
}

// intOrPercentValue is the number in v, whether a count or a percentage.
func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percent(v); ok {
		return n
	}
	return v.IntValue()
}

func notMoreThan100Percent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	if n, ok := percent(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(p, v, "must not be greater than 100%")}
	}
	return nil
}

// fileMode checks the permission bits of a projected file.
func fileMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

// diff shows how value differs from old, as upstream appends to the messages of
// fields that may not change.
func diff(old, value any) string {
	return cmp.Diff(old, value, cmp.Exporter(func(reflect.Type) bool { return true }))
}
