package ingress

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
)

const (
	// legacyClassAnnotation names an Ingress's class on Ingresses older than
	// spec.ingressClassName; users of ingress-nginx and traefik still set it.
	legacyClassAnnotation = "kubernetes.io/ingress.class"
	// defaultClassAnnotation marks the IngressClass that Ingresses without a
	// class belong to.
	defaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
)

// classSet says which class names are this controller's, and whether
// Ingresses without a class are too.
type classSet struct {
	names map[string]bool
	// isDefault: one of our classes is marked default.
	isDefault bool
}

// loadClasses reads the classes that are ours: className, and every
// IngressClass whose spec.controller is controllerName.
func loadClasses(lister networkinglisters.IngressClassLister, className, controllerName string, log *slog.Logger) classSet {
	s := classSet{names: map[string]bool{className: true}}
	all, err := lister.List(labels.Everything())
	if err != nil {
		log.Error("listing IngressClasses", "err", err)
	}
	for _, ic := range all {
		if ic.Name == className || ic.Spec.Controller == controllerName {
			s.names[ic.Name] = true
			s.isDefault = s.isDefault || ic.Annotations[defaultClassAnnotation] == "true"
		}
	}
	return s
}

// owns reports whether ing is ours: by spec.ingressClassName, else by the
// legacy annotation, else by our class being the default. The API server
// refuses Ingresses where the field and the annotation disagree.
func (s classSet) owns(ing *networkingv1.Ingress) bool {
	if n := ing.Spec.IngressClassName; n != nil && *n != "" {
		return s.names[*n]
	}
	if n := ing.Annotations[legacyClassAnnotation]; n != "" {
		return s.names[n]
	}
	return s.isDefault
}

// ensureClassLoop makes sure the IngressClass exists, retrying with back-off
// while the API fails, until it does or ctx ends.
func (c *Controller) ensureClassLoop(ctx context.Context) {
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Cap: 30 * time.Second, Steps: math.MaxInt32}
	_ = wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		if err := c.ensureClass(ctx); err != nil {
			c.log.Warn("making sure the IngressClass exists; retrying", "err", err)
			return false, nil
		}
		return true, nil
	})
}

// ensureClass creates the IngressClass ClassName if there is none. It is
// marked default unless another IngressClass already is, so that a class a
// user made default stays the one Ingresses without a class get. A class
// that exists is left as it is, whoever made it.
func (c *Controller) ensureClass(ctx context.Context) error {
	classes := c.client.NetworkingV1().IngressClasses()
	existing, err := classes.Get(ctx, c.className, metav1.GetOptions{})
	switch {
	case err == nil:
		if existing.Spec.Controller != c.controllerName {
			c.log.Warn("IngressClass exists with another controller; Ingresses of this class are served by berth too",
				"controller", existing.Spec.Controller)
		}
		return nil
	case !apierrors.IsNotFound(err):
		return fmt.Errorf("reading IngressClass %q: %w", c.className, err)
	}
	all, err := classes.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing IngressClasses to find the default one: %w", err)
	}
	ic := &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: c.className},
		Spec:       networkingv1.IngressClassSpec{Controller: c.controllerName},
	}
	otherDefault := ""
	for _, o := range all.Items {
		if o.Annotations[defaultClassAnnotation] == "true" {
			otherDefault = o.Name
			break
		}
	}
	if otherDefault == "" {
		ic.Annotations = map[string]string{defaultClassAnnotation: "true"}
	}
	if _, err := classes.Create(ctx, ic, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil // made meanwhile by someone else, whose it stays
		}
		return fmt.Errorf("creating IngressClass %q: %w", c.className, err)
	}
	if otherDefault != "" {
		c.log.Info("created IngressClass, not default since another one is", "default", otherDefault)
	} else {
		c.log.Info("created IngressClass as the default class")
	}
	return nil
}
