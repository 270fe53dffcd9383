package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
)

// crdTimeout bounds how long InstallCRDs waits for its CRDs when ctx has no
// deadline, as Helm does.
const crdTimeout = time.Minute

// InstallCRDs creates the CustomResourceDefinitions that do not exist yet and
// leaves existing ones unchanged, as Helm does with a chart's crds/ directory
// (no ownership metadata: they belong to no release), or with replace updates
// them to the chart's. It then waits until all of them are established and
// their kinds are served, so that a Build right after finds them; without a
// deadline in ctx it waits at most a minute.
func (c *Client) InstallCRDs(ctx context.Context, crds []Object, replace bool) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, crdTimeout)
		defer cancel()
	}
	for _, o := range crds {
		if o.gvk().GroupKind() != crdKind {
			return fmt.Errorf("installing CRDs: %s is not a CustomResourceDefinition", o)
		}
	}
	for _, o := range crds {
		body := o.DeepCopy()
		stripServerMetadata(body)
		_, err := c.resource(o).Create(ctx, body, metav1.CreateOptions{FieldManager: c.fieldManager})
		switch {
		case apierrors.IsAlreadyExists(err) && replace:
			if err := c.replaceCRD(ctx, o, body); err != nil {
				return fmt.Errorf("replacing CRD %q%s: %w", o.GetName(), inSource(o.Source), err)
			}
			c.log.InfoContext(ctx, "replaced CRD", "crd", o.GetName())
		case apierrors.IsAlreadyExists(err):
			c.log.InfoContext(ctx, "CRD exists; leaving it unchanged", "crd", o.GetName())
		case err != nil:
			return fmt.Errorf("installing CRD %q%s: %w", o.GetName(), inSource(o.Source), err)
		default:
			c.log.InfoContext(ctx, "created CRD", "crd", o.GetName())
		}
	}
	if err := c.Wait(ctx, crds, WaitOptions{}, nil); err != nil {
		return fmt.Errorf("installing CRDs: %w", err)
	}
	c.resetMapper(ctx)
	for _, o := range crds {
		if err := c.waitServed(ctx, o); err != nil {
			return fmt.Errorf("installing CRDs: %w", err)
		}
	}
	return nil
}

// replaceCRD updates a live CRD to body, keeping the live status and
// metadata the server owns.
func (c *Client) replaceCRD(ctx context.Context, o Object, body *unstructured.Unstructured) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := c.get(ctx, o)
		if err != nil {
			return err
		}
		body.SetResourceVersion(live.GetResourceVersion())
		_, err = c.resource(o).Update(ctx, body, metav1.UpdateOptions{FieldManager: c.fieldManager})
		return err
	})
}

// waitServed returns when discovery serves every version the live CRD serves.
func (c *Client) waitServed(ctx context.Context, o Object) error {
	live, err := c.get(ctx, o)
	if err != nil {
		return fmt.Errorf("reading CRD %q: %w", o.GetName(), err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &crd); err != nil {
		return fmt.Errorf("decoding CRD %q: %w", o.GetName(), err)
	}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
		for delay := 50 * time.Millisecond; ; delay = min(2*delay, pollInterval) {
			_, err := c.mapping(ctx, gvk)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("CRD %q is established but %s is not served: %w", o.GetName(), gvk, errors.Join(err, ctx.Err()))
			}
			sleep(ctx, delay)
		}
	}
	return nil
}
