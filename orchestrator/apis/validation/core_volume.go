package validation

import (
	"path"
	"path/filepath"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateVolumes validates a pod's volumes and returns them by name.
func validateVolumes(volumes []corev1.Volume, p *field.Path, isPod bool) (map[string]corev1.VolumeSource, field.ErrorList) {
	byName := map[string]corev1.VolumeSource{}
	var errs field.ErrorList
	for i, v := range volumes {
		vp := p.Index(i)
		verrs := validateVolumeSource(&v.VolumeSource, vp, isPod)
		if v.Name == "" {
			verrs = append(verrs, field.Required(vp.Child("name"), ""))
		} else {
			verrs = append(verrs, dnsLabel(v.Name, vp.Child("name"))...)
		}
		if _, dup := byName[v.Name]; dup {
			verrs = append(verrs, field.Duplicate(vp.Child("name"), v.Name))
		}
		if len(verrs) > 0 {
			errs = append(errs, verrs...)
			continue
		}
		byName[v.Name] = v.VolumeSource
	}
	return byName, errs
}

// validateVolumeSource requires exactly one source and validates the common ones.
func validateVolumeSource(src *corev1.VolumeSource, p *field.Path, isPod bool) field.ErrorList {
	var errs field.ErrorList
	n := 0
	v := reflect.ValueOf(src).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			continue
		}
		name := jsonName(v.Type().Field(i))
		if n++; n > 1 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type"))
			continue
		}
		errs = append(errs, validateSource(src, p.Child(name), isPod)...)
	}
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a volume type"))
	}
	return errs
}

// jsonName is the name of a struct field on the wire.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

var hostPathTypes = []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev,
	corev1.HostPathDirectory, corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket}

// validateSource validates the one source set in src; p is that source's path.
func validateSource(src *corev1.VolumeSource, p *field.Path, isPod bool) field.ErrorList {
	var errs field.ErrorList
	switch {
	case src.HostPath != nil:
		errs = append(errs, validateHostPath(src.HostPath, p)...)
	case src.EmptyDir != nil:
		if l := src.EmptyDir.SizeLimit; l != nil && l.Sign() < 0 {
			errs = append(errs, field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	case src.Secret != nil:
		if src.Secret.SecretName == "" {
			errs = append(errs, field.Required(p.Child("secretName"), ""))
		}
		errs = append(errs, fileMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.Secret.Items, p.Child("items"))...)
	case src.ConfigMap != nil:
		if src.ConfigMap.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		errs = append(errs, fileMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateKeyToPaths(src.ConfigMap.Items, p.Child("items"))...)
	case src.PersistentVolumeClaim != nil:
		if src.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(p.Child("claimName"), ""))
		}
	case src.NFS != nil:
		errs = append(errs, validateNFS(src.NFS, p)...)
	case src.DownwardAPI != nil:
		errs = append(errs, fileMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		for _, f := range src.DownwardAPI.Items {
			errs = append(errs, validateDownwardAPIFile(f, p)...)
		}
	case src.Projected != nil:
		errs = append(errs, fileMode(src.Projected.DefaultMode, p.Child("defaultMode"))...)
		errs = append(errs, validateProjection(src.Projected, p)...)
	case src.CSI != nil:
		errs = append(errs, validateCSIDriverName(src.CSI.Driver, p.Child("driver"))...)
		if ref := src.CSI.NodePublishSecretRef; ref != nil && ref.Name == "" {
			errs = append(errs, field.Required(p.Child("nodePublishSecretRef", "name"), ""))
		}
	case src.Ephemeral != nil:
		if t := src.Ephemeral.VolumeClaimTemplate; t == nil {
			errs = append(errs, field.Required(p.Child("volumeClaimTemplate"), ""))
		} else {
			tp := p.Child("volumeClaimTemplate")
			errs = append(errs, validateTemplateMeta(&t.ObjectMeta, tp.Child("metadata"))...)
			errs = append(errs, validatePersistentVolumeClaimSpec(&t.Spec, tp.Child("spec"))...)
		}
	case src.GitRepo != nil:
		if src.GitRepo.Repository == "" {
			errs = append(errs, field.Required(p.Child("repository"), ""))
		}
		errs = append(errs, validateLocalDescendingPath(src.GitRepo.Directory, p.Child("directory"))...)
	case src.Image != nil:
		if isPod && src.Image.Reference == "" {
			errs = append(errs, field.Required(p.Child("reference"), ""))
		}
		errs = append(errs, oneOf(src.Image.PullPolicy, p.Child("pullPolicy"), corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever)...)
	}
	return errs
}

func validateHostPath(hp *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(p.Child("path"), "")}
	}
	errs := validatePathNoBacksteps(hp.Path, p.Child("path"))
	if hp.Type != nil {
		errs = append(errs, supportedValue(*hp.Type, p.Child("type"), hostPathTypes...)...)
	}
	return errs
}

func validateNFS(nfs *corev1.NFSVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if nfs.Server == "" {
		errs = append(errs, field.Required(p.Child("server"), ""))
	}
	if nfs.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	if !path.IsAbs(nfs.Path) {
		errs = append(errs, field.Invalid(p.Child("path"), nfs.Path, "must be an absolute path"))
	}
	return errs
}

func validateCSIDriverName(driver string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if driver == "" {
		errs = append(errs, field.Required(p, ""))
	}
	if len(driver) > 63 {
		errs = append(errs, field.TooLong(p, "", 63))
	}
	return append(errs, messages(p, driver, nameSubdomain(strings.ToLower(driver), false))...)
}

func validateKeyToPaths(items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, kp := range items {
		ip := p.Index(i)
		if kp.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		if kp.Path == "" {
			errs = append(errs, field.Required(ip.Child("path"), ""))
		}
		errs = append(errs, validateLocalNonReservedPath(kp.Path, ip.Child("path"))...)
		errs = append(errs, fileMode(kp.Mode, ip.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIFile(f corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(f.Path, p.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(f.FieldRef, volumeFieldPaths, p.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, fileMode(f.Mode, p.Child("mode"))...)
}

// validateProjection validates the sources of a projected volume, which must not
// write the same path twice.
func validateProjection(proj *corev1.ProjectedVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := map[string]bool{}
	claim := func(file string, value any) {
		if file == "" {
			return
		}
		if paths[file] {
			errs = append(errs, field.Invalid(p, value, "conflicting duplicate paths"))
		}
		paths[file] = true
	}
	for i, s := range proj.Sources {
		sp := p.Child("sources").Index(i)
		n := 0
		if s.Secret != nil {
			n++
			if s.Secret.Name == "" {
				errs = append(errs, field.Required(sp.Child("secret", "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(s.Secret.Items, sp.Child("secret", "items"))...)
			for _, kp := range s.Secret.Items {
				claim(kp.Path, s.Secret.Name)
			}
		}
		if s.ConfigMap != nil {
			n++
			if s.ConfigMap.Name == "" {
				errs = append(errs, field.Required(sp.Child("configMap", "name"), ""))
			}
			errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, sp.Child("configMap", "items"))...)
			for _, kp := range s.ConfigMap.Items {
				claim(kp.Path, s.ConfigMap.Name)
			}
		}
		if s.DownwardAPI != nil {
			n++
			for _, f := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIFile(f, sp.Child("downwardAPI"))...)
				claim(f.Path, f.Path)
			}
		}
		if t := s.ServiceAccountToken; t != nil {
			n++
			tp := sp.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 10*60 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds > 1<<32 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
			}
			if t.Path == "" {
				errs = append(errs, field.Required(p.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(t.Path, p.Child("path"))...)
			}
			claim(t.Path, t.Path)
		}
		if b := s.ClusterTrustBundle; b != nil {
			n++
			bp := sp.Child("clusterTrustBundle")
			switch {
			case b.Name != nil && b.SignerName != nil:
				errs = append(errs, field.Invalid(bp, b, "only one of name and signerName may be used"))
			case b.Name == nil && b.SignerName == nil:
				errs = append(errs, field.Required(bp, "either name or signerName must be specified"))
			}
			if b.Path == "" {
				errs = append(errs, field.Required(bp.Child("path"), ""))
			}
			errs = append(errs, validateLocalNonReservedPath(b.Path, bp.Child("path"))...)
			claim(b.Path, b.Path)
		}
		if s.PodCertificate != nil {
			n++
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

// validatePathNoBacksteps rejects paths with a ".." element.
func validatePathNoBacksteps(target string, p *field.Path) field.ErrorList {
	for _, part := range strings.Split(filepath.ToSlash(target), "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(p, target, "must not contain '..'")}
		}
	}
	return nil
}

// validateLocalDescendingPath requires a relative path that stays below its base.
func validateLocalDescendingPath(target string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(p, target, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(target, p)...)
}

// validateLocalNonReservedPath is validateLocalDescendingPath that also keeps
// away from the names a projected volume uses for itself ("..data").
func validateLocalNonReservedPath(target string, p *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(target, p)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(p, target, "must not start with '..'"))
	}
	return errs
}

var (
	accessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	volumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}
)

// validateAccessModes checks the access modes of a volume or claim; required is
// the message when there are none.
func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, required string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(modes) == 0 {
		errs = append(errs, field.Required(p, required))
	}
	pod, other := false, false
	for _, m := range modes {
		if e := supportedValue(m, p, accessModes...); len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		pod = pod || m == corev1.ReadWriteOncePod
		other = other || m != corev1.ReadWriteOncePod
	}
	if pod && other {
		errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validatePersistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(spec.AccessModes, "at least 1 access mode is required", p.Child("accessModes"))
	if spec.Selector != nil {
		errs = append(errs, labelSelector(spec.Selector, p.Child("selector"))...)
	}
	storagePath := p.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(storagePath, q.String(), notPositiveMsg))
	}
	if c := spec.StorageClassName; c != nil && *c != "" {
		errs = append(errs, validName(nameSubdomain, *c, p.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		errs = append(errs, supportedValue(*spec.VolumeMode, p.Child("volumeMode"), volumeModes...)...)
	}
	type source struct {
		name string
		ref  *corev1.TypedObjectReference
	}
	var sources []source
	if ds := spec.DataSource; ds != nil {
		sources = append(sources, source{"dataSource", &corev1.TypedObjectReference{APIGroup: ds.APIGroup, Kind: ds.Kind, Name: ds.Name}})
	}
	if spec.DataSourceRef != nil {
		sources = append(sources, source{"dataSourceRef", spec.DataSourceRef})
	}
	for _, s := range sources {
		rp, ref := p.Child(s.name), s.ref
		if ref.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
		if ref.Kind == "" {
			errs = append(errs, field.Required(rp.Child("kind"), ""))
		}
		if ref.APIGroup == nil || *ref.APIGroup == "" {
			if ref.Kind != "PersistentVolumeClaim" {
				errs = append(errs, field.Invalid(rp, ref.Kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
			}
		} else {
			errs = append(errs, dnsSubdomain(*ref.APIGroup, rp.Child("apiGroup"))...)
		}
		if ref.Namespace != nil && *ref.Namespace != "" {
			errs = append(errs, validName(nameDNSLabel, *ref.Namespace, rp.Child("namespace"))...)
		}
	}
	if c := spec.VolumeAttributesClassName; c != nil && *c != "" {
		errs = append(errs, validName(nameSubdomain, *c, p.Child("volumeAttributesClassName"))...)
	}
	return errs
}

func validatePersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	return validatePersistentVolumeClaimSpec(&pvc.Spec, specPath)
}

// validatePersistentVolumeClaimUpdate keeps a claim's spec as created, except
// that it may be bound to a volume once and a bound claim may grow.
func validatePersistentVolumeClaimUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	newSpec, oldSpec := pvc.Spec.DeepCopy(), old.Spec.DeepCopy()
	if oldSpec.VolumeName == "" {
		oldSpec.VolumeName = newSpec.VolumeName
	}
	if oldSpec.StorageClassName == nil {
		// A claim made before its class was known may be given one.
		oldSpec.StorageClassName = newSpec.StorageClassName
	}
	bound := pvc.Status.Phase == corev1.ClaimBound
	if bound && newSpec.Resources.Requests != nil {
		newSpec.Resources.Requests[corev1.ResourceStorage] = old.Spec.Resources.Requests[corev1.ResourceStorage]
	}
	if bound && newSpec.VolumeAttributesClassName != nil {
		newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	}
	if !equality.Semantic.DeepEqual(newSpec, oldSpec) {
		errs = append(errs, field.Forbidden(specPath, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"+diff(*oldSpec, *newSpec)))
	}
	size, oldSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage], old.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.Cmp(oldSize) < 0 {
		capacity := old.Status.Capacity[corev1.ResourceStorage]
		if size.Cmp(capacity) <= 0 {
			errs = append(errs, field.Forbidden(specPath.Child("resources", "requests", "storage"), "field can not be less than status.capacity"))
		}
	}
	return errs
}

func validatePersistentVolumeClaimStatus(pvc, _ *corev1.PersistentVolumeClaim) field.ErrorList {
	var errs field.ErrorList
	if len(pvc.Spec.AccessModes) == 0 {
		errs = append(errs, field.Required(field.NewPath("Spec", "accessModes"), ""))
	}
	for _, name := range sortedKeys(pvc.Status.Capacity) {
		if q := pvc.Status.Capacity[name]; q.Sign() < 0 {
			errs = append(errs, field.Invalid(field.NewPath("status", "capacity").Key(string(name)), q.Value(), "must be a valid resource quantity"))
		}
	}
	return errs
}

var reclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain}

func validatePersistentVolume(pv *corev1.PersistentVolume) field.ErrorList {
	spec := &pv.Spec
	errs := validateAccessModes(spec.AccessModes, "", specPath.Child("accessModes"))
	capPath := specPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		errs = append(errs, field.Required(capPath, ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		errs = append(errs, field.NotSupported(capPath, spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedKeys(spec.Capacity) {
		if q := spec.Capacity[name]; q.Cmp(resource.Quantity{}) <= 0 {
			errs = append(errs, field.Invalid(capPath.Key(string(name)), q.String(), notPositiveMsg))
		}
	}
	if spec.PersistentVolumeReclaimPolicy != "" {
		errs = append(errs, supportedValue(spec.PersistentVolumeReclaimPolicy, specPath.Child("persistentVolumeReclaimPolicy"), reclaimPolicies...)...)
	}
	if na := spec.NodeAffinity; na != nil {
		if na.Required == nil {
			errs = append(errs, field.Required(specPath.Child("nodeAffinity", "required"), "must specify required node constraints"))
		} else {
			errs = append(errs, validateNodeSelector(na.Required, specPath.Child("nodeAffinity", "required"))...)
		}
	}
	errs = append(errs, validatePersistentVolumeSource(&spec.PersistentVolumeSource, spec.NodeAffinity != nil, specPath)...)
	if spec.HostPath != nil && path.Clean(spec.HostPath.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
		errs = append(errs, field.Forbidden(specPath.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
	}
	if spec.StorageClassName != "" {
		errs = append(errs, validName(nameSubdomain, spec.StorageClassName, specPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil {
		errs = append(errs, supportedValue(*spec.VolumeMode, specPath.Child("volumeMode"), volumeModes...)...)
	}
	return errs
}

// validatePersistentVolumeSource requires exactly one source and validates the
// ones a node can mount without a cloud provider.
func validatePersistentVolumeSource(src *corev1.PersistentVolumeSource, hasNodeAffinity bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	v := reflect.ValueOf(src).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsNil() {
			continue
		}
		name := jsonName(v.Type().Field(i))
		if n++; n > 1 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 volume type"))
		}
	}
	if n == 0 {
		return append(errs, field.Required(p, "must specify a volume type"))
	}
	switch {
	case src.HostPath != nil:
		errs = append(errs, validateHostPath(src.HostPath, p.Child("hostPath"))...)
	case src.NFS != nil:
		errs = append(errs, validateNFS(src.NFS, p.Child("nfs"))...)
	case src.Local != nil:
		lp := p.Child("local")
		if src.Local.Path == "" {
			errs = append(errs, field.Required(lp.Child("path"), ""))
		} else {
			errs = append(errs, validatePathNoBacksteps(src.Local.Path, lp.Child("path"))...)
		}
		if !hasNodeAffinity {
			errs = append(errs, field.Required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	case src.CSI != nil:
		cp := p.Child("csi")
		errs = append(errs, validateCSIDriverName(src.CSI.Driver, cp.Child("driver"))...)
		if src.CSI.VolumeHandle == "" {
			errs = append(errs, field.Required(cp.Child("volumeHandle"), ""))
		}
	}
	return errs
}

// validatePersistentVolumeUpdate keeps where a volume's data lives.
func validatePersistentVolumeUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	var errs field.ErrorList
	src, oldSrc := pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource
	if oldSrc.CSI != nil && oldSrc.CSI.ControllerExpandSecretRef == nil && src.CSI != nil {
		csi := *src.CSI
		csi.ControllerExpandSecretRef = nil
		src.CSI = &csi
	}
	if !equality.Semantic.DeepEqual(src, oldSrc) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), "spec.persistentvolumesource is immutable after creation\n"+diff(oldSrc, src)))
	}
	errs = append(errs, immutable(pv.Spec.VolumeMode, old.Spec.VolumeMode, field.NewPath("volumeMode"))...)
	if old.Spec.NodeAffinity != nil && !equality.Semantic.DeepEqual(pv.Spec.NodeAffinity, old.Spec.NodeAffinity) {
		errs = append(errs, field.Invalid(field.NewPath("nodeAffinity"), pv.Spec.NodeAffinity, immutableMsg))
	}
	return errs
}
