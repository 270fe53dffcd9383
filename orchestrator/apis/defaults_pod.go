package apis

import (
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// defaultPod defaults a Pod. Beyond what every pod template gets, a Pod's
// containers request what they limit, and its service links are enabled.
func defaultPod(pod *corev1.Pod) {
	spec := &pod.Spec
	// Only Pods, as upstream: a template keeps the requests its author wrote, and
	// its pods get theirs when they are created.
	for _, containers := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range containers {
			requestLimits(&containers[i].Resources)
		}
	}
	defaultPodLevelResources(pod)
	defaultPointer(&spec.EnableServiceLinks, corev1.DefaultEnableServiceLinks)
	if spec.HostNetwork {
		for _, containers := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
			for i := range containers {
				for j := range containers[i].Ports {
					defaultValue(&containers[i].Ports[j].HostPort, containers[i].Ports[j].ContainerPort)
				}
			}
		}
	}
	defaultPodSpec(spec)

	status := &pod.Status
	mirrorIPs(&status.PodIP, &status.PodIPs,
		func(ip corev1.PodIP) string { return ip.IP },
		func(ip string) corev1.PodIP { return corev1.PodIP{IP: ip} })
	mirrorIPs(&status.HostIP, &status.HostIPs,
		func(ip corev1.HostIP) string { return ip.IP },
		func(ip string) corev1.HostIP { return corev1.HostIP{IP: ip} })
	roundResources(status.AllocatedResources)
	if status.Resources != nil {
		roundResources(status.Resources.Limits, status.Resources.Requests)
	}
	containerStatuses := [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses, status.EphemeralContainerStatuses}
	for _, statuses := range containerStatuses {
		for i := range statuses {
			roundResources(statuses[i].AllocatedResources)
			if r := statuses[i].Resources; r != nil {
				roundResources(r.Limits, r.Requests)
			}
		}
	}
}

// requestLimits makes a container request what it limits, for every resource whose
// request is unset.
func requestLimits(r *corev1.ResourceRequirements) {
	if r.Limits == nil {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	fillResources(r.Requests, r.Limits)
}

// mirrorIPs keeps a single IP (or CIDR) and the list it heads in agreement, as
// upstream's conversion of the v1 types does for old clients that know only the
// single field: the single IP wins when the two disagree, and is the head of the
// list otherwise.
func mirrorIPs[T any](single *string, list *[]T, ip func(T) string, from func(string) T) {
	if *single != "" && (len(*list) == 0 || ip((*list)[0]) != *single) {
		*list = []T{from(*single)}
	}
	if len(*list) > 0 {
		*single = ip((*list)[0])
	}
}

// defaultPodSpec defaults a pod spec, of a Pod or of any pod template: the spec's
// own fields, then its volumes and containers.
func defaultPodSpec(spec *corev1.PodSpec) {
	defaultValue(&spec.DNSPolicy, corev1.DNSClusterFirst)
	defaultValue(&spec.RestartPolicy, corev1.RestartPolicyAlways)
	defaultPointer(&spec.SecurityContext, corev1.PodSecurityContext{})
	defaultPointer(&spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds)
	defaultValue(&spec.SchedulerName, corev1.DefaultSchedulerName)
	// serviceAccount is the deprecated alias of serviceAccountName: upstream fills
	// the new field from the old one and echoes the new one in the old.
	defaultValue(&spec.ServiceAccountName, spec.DeprecatedServiceAccount)
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundResources(spec.Overhead)
	if spec.Resources != nil {
		roundResources(spec.Resources.Limits, spec.Resources.Requests)
	}
}

func defaultContainer(c *corev1.Container) {
	defaultValue(&c.ImagePullPolicy, pullPolicy(c.Image))
	defaultValue(&c.TerminationMessagePath, corev1.TerminationMessagePathDefault)
	defaultValue(&c.TerminationMessagePolicy, corev1.TerminationMessageReadFile)
	for i := range c.Ports {
		defaultValue(&c.Ports[i].Protocol, corev1.ProtocolTCP)
	}
	for i := range c.Env {
		if from := c.Env[i].ValueFrom; from != nil {
			if from.FieldRef != nil {
				defaultValue(&from.FieldRef.APIVersion, "v1")
			}
			if from.FileKeyRef != nil {
				defaultPointer(&from.FileKeyRef.Optional, false)
			}
		}
	}
	roundResources(c.Resources.Limits, c.Resources.Requests)
	for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if probe != nil {
			defaultProbe(probe)
		}
	}
	if l := c.Lifecycle; l != nil {
		for _, h := range []*corev1.LifecycleHandler{l.PostStart, l.PreStop} {
			if h != nil && h.HTTPGet != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

func defaultProbe(p *corev1.Probe) {
	defaultValue(&p.TimeoutSeconds, 1)
	defaultValue(&p.PeriodSeconds, 10)
	defaultValue(&p.SuccessThreshold, 1)
	defaultValue(&p.FailureThreshold, 3)
	if p.HTTPGet != nil {
		defaultHTTPGet(p.HTTPGet)
	}
	if p.GRPC != nil {
		defaultPointer(&p.GRPC.Service, "")
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	defaultValue(&h.Path, "/")
	defaultValue(&h.Scheme, corev1.URISchemeHTTP)
}

// pullPolicy is the pull policy of an image that names none: Always for the
// latest tag, written or implied, and IfNotPresent for any other tag, a digest,
// or a reference that does not parse.
func pullPolicy(image string) corev1.PullPolicy {
	m := imageReference.FindStringSubmatch(image)
	if m == nil {
		return corev1.PullIfNotPresent
	}
	tag, digest := m[1], m[2]
	if tag == "latest" || tag == "" && digest == "" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageReference matches an image reference as container registries define it,
// capturing its tag and its digest: [domain[:port]/]path[:tag][@digest], path
// being lowercase components separated by slashes.
var imageReference = func() *regexp.Regexp {
	const (
		domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
		domain          = `(?:` + domainComponent + `(?:\.` + domainComponent + `)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
		pathComponent   = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
		name            = `(?:` + domain + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
		tag             = `[\w][\w.-]{0,127}`
		digest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
	)
	return regexp.MustCompile(`^` + name + `(?::(` + tag + `))?(?:@(` + digest + `))?$`)
}()

func defaultVolume(v *corev1.Volume) {
	src := &v.VolumeSource
	if *src == (corev1.VolumeSource{}) {
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	switch {
	case src.HostPath != nil:
		defaultPointer(&src.HostPath.Type, corev1.HostPathUnset)
	case src.Secret != nil:
		defaultPointer(&src.Secret.DefaultMode, corev1.SecretVolumeSourceDefaultMode)
	case src.ConfigMap != nil:
		defaultPointer(&src.ConfigMap.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode)
	case src.DownwardAPI != nil:
		defaultPointer(&src.DownwardAPI.DefaultMode, corev1.DownwardAPIVolumeSourceDefaultMode)
		defaultDownwardAPIFiles(src.DownwardAPI.Items)
	case src.Projected != nil:
		defaultPointer(&src.Projected.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
		for i := range src.Projected.Sources {
			p := &src.Projected.Sources[i]
			if p.DownwardAPI != nil {
				defaultDownwardAPIFiles(p.DownwardAPI.Items)
			}
			if p.ServiceAccountToken != nil {
				defaultPointer(&p.ServiceAccountToken.ExpirationSeconds, 3600)
			}
		}
	case src.ISCSI != nil:
		defaultValue(&src.ISCSI.ISCSIInterface, "default")
	case src.RBD != nil:
		defaultRBD(&src.RBD.RBDPool, &src.RBD.RadosUser, &src.RBD.Keyring)
	case src.AzureDisk != nil:
		defaultAzureDisk(src.AzureDisk)
	case src.ScaleIO != nil:
		defaultScaleIO(&src.ScaleIO.StorageMode, &src.ScaleIO.FSType)
	case src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil:
		defaultPersistentVolumeClaimSpec(&src.Ephemeral.VolumeClaimTemplate.Spec)
	case src.Image != nil:
		defaultValue(&src.Image.PullPolicy, pullPolicy(src.Image.Reference))
	}
}

func defaultDownwardAPIFiles(files []corev1.DownwardAPIVolumeFile) {
	for i := range files {
		if files[i].FieldRef != nil {
			defaultValue(&files[i].FieldRef.APIVersion, "v1")
		}
	}
}

func defaultRBD(pool, user, keyring *string) {
	defaultValue(pool, "rbd")
	defaultValue(user, "admin")
	defaultValue(keyring, "/etc/ceph/keyring")
}

func defaultAzureDisk(d *corev1.AzureDiskVolumeSource) {
	defaultPointer(&d.CachingMode, corev1.AzureDataDiskCachingReadWrite)
	defaultPointer(&d.FSType, "ext4")
	defaultPointer(&d.ReadOnly, false)
	defaultPointer(&d.Kind, corev1.AzureSharedBlobDisk)
}

func defaultScaleIO(storageMode, fsType *string) {
	defaultValue(storageMode, "ThinProvisioned")
	defaultValue(fsType, "xfs")
}

// defaultPodLevelResources fills the pod-level resources (spec.resources) that a
// Pod sets only in part, from its containers' resources, as upstream does with
// the PodLevelResources feature (beta, on by default). Pods without pod-level
// resources are left alone.
func defaultPodLevelResources(pod *corev1.Pod) {
	r := pod.Spec.Resources
	if r == nil || len(r.Limits) == 0 && len(r.Requests) == 0 {
		return
	}
	containerLimits := aggregateContainerResources(&pod.Spec, limitsOf)

	// Hugepages limits from the containers', unless the pod requests them.
	limits := r.Limits
	if limits == nil {
		limits = corev1.ResourceList{}
	}
	for name, q := range containerLimits {
		_, requested := r.Requests[name]
		_, limited := limits[name]
		if isHugePages(name) && !requested && !limited {
			limits[name] = q.DeepCopy()
		}
	}
	if len(limits) > 0 {
		r.Limits = limits
	}

	// Requests, when the pod has limits: the containers' requests for resources that
	// can be overcommitted, else the pod's limits.
	if len(r.Limits) > 0 {
		requests := r.Requests
		if requests == nil {
			requests = corev1.ResourceList{}
		}
		containerRequests := aggregateContainerResources(&pod.Spec, requestsOf)
		for name, q := range containerRequests {
			if _, ok := requests[name]; !ok && podLevelResource(name) && overcommittable(name) {
				requests[name] = q.DeepCopy()
			}
		}
		for name, q := range r.Limits {
			if _, ok := requests[name]; !ok && podLevelResource(name) {
				requests[name] = q.DeepCopy()
			}
		}
		if len(requests) > 0 {
			r.Requests = requests
		}
	}

	// Limits, when the pod requests but does not limit: the containers' limits for
	// resources that every container limits.
	if hasPodLevelResource(r.Limits) || !hasPodLevelResource(r.Requests) {
		return
	}
	limits = r.Limits
	if limits == nil {
		limits = corev1.ResourceList{}
	}
	for name, q := range containerLimits {
		_, limited := limits[name]
		if !limited && podLevelResource(name) && overcommittable(name) && everyContainerLimits(&pod.Spec, name) {
			limits[name] = q.DeepCopy()
		}
	}
	if len(limits) > 0 {
		r.Limits = limits
	}
}

// aggregateContainerResources adds up what the containers of a pod need at most at
// any one time: the regular containers and the sidecars (restartable init
// containers) together, or any init container with the sidecars started before it.
func aggregateContainerResources(spec *corev1.PodSpec, of func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range spec.Containers {
		addResources(total, of(&spec.Containers[i]))
	}
	sidecars, initPeak := corev1.ResourceList{}, corev1.ResourceList{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addResources(total, of(c))
			addResources(sidecars, of(c))
			maxResources(initPeak, sidecars)
			continue
		}
		running := corev1.ResourceList{}
		addResources(running, of(c))
		addResources(running, sidecars)
		maxResources(initPeak, running)
	}
	maxResources(total, initPeak)
	return total
}

func limitsOf(c *corev1.Container) corev1.ResourceList   { return c.Resources.Limits }
func requestsOf(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests }

func addResources(sum, add corev1.ResourceList) {
	for name, q := range add {
		v := sum[name]
		v.Add(q)
		sum[name] = v
	}
}

func maxResources(peak, other corev1.ResourceList) {
	for name, q := range other {
		if v, ok := peak[name]; !ok || q.Cmp(v) > 0 {
			peak[name] = q.DeepCopy()
		}
	}
}

func everyContainerLimits(spec *corev1.PodSpec, name corev1.ResourceName) bool {
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			if _, ok := containers[i].Resources.Limits[name]; !ok {
				return false
			}
		}
	}
	return true
}

// podLevelResource tells whether a pod can set the resource at pod level: cpu,
// memory and hugepages.
func podLevelResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || isHugePages(name)
}

func hasPodLevelResource(list corev1.ResourceList) bool {
	for name := range list {
		if podLevelResource(name) {
			return true
		}
	}
	return false
}

func isHugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// overcommittable tells whether requests of the resource may be less than its
// limits: native resources other than hugepages.
func overcommittable(name corev1.ResourceName) bool {
	native := !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
	return native && !isHugePages(name)
}
