package pods

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"berth.dev/berth/kubelet/envvars"
	"berth.dev/berth/kubelet/images"
	"berth.dev/berth/kubelet/runtime"
	"berth.dev/berth/kubelet/volume"
)

// Files the kubelet makes for each pod, under <PodsDir>/<uid>.
const (
	etcHostsFile    = "etc-hosts"
	resolvConfFile  = "resolv.conf"
	hostnameFile    = "etc-hostname"
	terminationDir  = "containers"
	defaultTermPath = "/dev/termination-log"
)

// containerSpec turns c into what the runtime runs: the image's defaults
// overridden by the container's command, args, env, working directory and
// security context, the volumes at their mount paths, and the pod's files.
func (k *Kubelet) containerSpec(pod *corev1.Pod, c *corev1.Container, img images.Image, env []corev1.EnvVar, paths volume.Paths, rootfs string, attempt int) (runtime.ContainerSpec, error) {
	args := containerArgs(c, img.Config.Entrypoint, img.Config.Cmd, env)
	if len(args) == 0 {
		return runtime.ContainerSpec{}, fmt.Errorf("no command specified")
	}
	user, err := containerUser(pod, c, img.Config.User, rootfs)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	mounts, err := k.containerMounts(pod, c, env, paths, attempt)
	if err != nil {
		return runtime.ContainerSpec{}, err
	}
	workdir := c.WorkingDir
	if workdir == "" {
		workdir = img.Config.WorkingDir
	}
	if workdir == "" {
		workdir = "/"
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	var caps runtime.Capabilities
	if sc.Capabilities != nil {
		for _, a := range sc.Capabilities.Add {
			caps.Add = append(caps.Add, string(a))
		}
		for _, d := range sc.Capabilities.Drop {
			caps.Drop = append(caps.Drop, string(d))
		}
	}
	labels := podLabels(pod)
	labels[labelContainer] = c.Name
	labels[labelSpecImage] = c.Image
	labels[labelTermination] = k.terminationLogPath(pod.UID, c.Name, attempt)
	return runtime.ContainerSpec{
		Name:            c.Name,
		Attempt:         attempt,
		Labels:          labels,
		Rootfs:          rootfs,
		Args:            args,
		Env:             mergeEnv(img.Config.Env, env),
		WorkingDir:      workdir,
		User:            user,
		Capabilities:    caps,
		Privileged:      sc.Privileged != nil && *sc.Privileged,
		NoNewPrivileges: sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		ReadOnlyRootfs:  sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
		Mounts:          mounts,
		Resources: runtime.Resources{
			CPURequestMilli:  c.Resources.Requests.Cpu().MilliValue(),
			CPULimitMilli:    c.Resources.Limits.Cpu().MilliValue(),
			MemoryLimitBytes: c.Resources.Limits.Memory().Value(),
		},
		LogPath: k.logPath(pod, c.Name, attempt),
	}, nil
}

// containerArgs resolves the command line as upstream does: the container's
// command replaces the image's entrypoint (and drops its cmd), its args
// replace the cmd; $(VAR) references are expanded from the environment.
func containerArgs(c *corev1.Container, entrypoint, cmd []string, env []corev1.EnvVar) []string {
	command, args := entrypoint, cmd
	if len(c.Command) > 0 {
		command, args = envvars.ExpandArgs(c.Command, env), nil
	}
	if len(c.Args) > 0 {
		args = envvars.ExpandArgs(c.Args, env)
	}
	return append(append([]string(nil), command...), args...)
}

// mergeEnv is the image's environment overridden by the container's.
func mergeEnv(image []string, env []corev1.EnvVar) []string {
	set := make(map[string]bool, len(env))
	for _, e := range env {
		set[e.Name] = true
	}
	var out []string
	for _, kv := range image {
		name, _, _ := strings.Cut(kv, "=")
		if !set[name] {
			out = append(out, kv)
		}
	}
	for _, e := range env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

// containerUser is the identity the container runs as: the security
// context's runAsUser/runAsGroup, else the image's user (names looked up in
// the image's /etc/passwd and /etc/group), with supplemental groups and
// fsGroup; runAsNonRoot is enforced as upstream words it.
func containerUser(pod *corev1.Pod, c *corev1.Container, imageUser, rootfs string) (runtime.User, error) {
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	runAsUser, runAsGroup, nonRoot := psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
	if sc.RunAsUser != nil {
		runAsUser = sc.RunAsUser
	}
	if sc.RunAsGroup != nil {
		runAsGroup = sc.RunAsGroup
	}
	if sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	var u runtime.User
	userPart, groupPart, hasGroup := strings.Cut(imageUser, ":")
	switch {
	case runAsUser != nil:
		u.UID = uint32(*runAsUser)
		gid, err := primaryGroup(rootfs, strconv.FormatInt(*runAsUser, 10))
		if err == nil {
			u.GID = gid
		}
	case userPart != "":
		uid, gid, err := lookupUser(rootfs, userPart)
		if err != nil {
			if nonRoot != nil && *nonRoot {
				return u, fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", userPart, podDesc(pod), c.Name)
			}
			return u, err
		}
		u.UID, u.GID = uid, gid
	}
	if hasGroup && groupPart != "" && runAsUser == nil {
		gid, err := lookupGroup(rootfs, groupPart)
		if err != nil {
			return u, err
		}
		u.GID = gid
	}
	if runAsGroup != nil {
		u.GID = uint32(*runAsGroup)
	}
	if nonRoot != nil && *nonRoot && u.UID == 0 {
		return u, fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podDesc(pod), c.Name)
	}
	for _, g := range psc.SupplementalGroups {
		u.Groups = append(u.Groups, uint32(g))
	}
	if psc.FSGroup != nil {
		u.Groups = append(u.Groups, uint32(*psc.FSGroup))
	}
	return u, nil
}

// lookupUser resolves a user name or number through the image's /etc/passwd.
func lookupUser(rootfs, name string) (uid, gid uint32, err error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		gid, _ := primaryGroup(rootfs, name)
		return uint32(n), gid, nil
	}
	fields, err := findEntry(filepath.Join(rootfs, "etc/passwd"), name, 0)
	if err != nil || len(fields) < 4 {
		return 0, 0, fmt.Errorf("unable to find user %s: no matching entries in passwd file", name)
	}
	u, err1 := strconv.ParseUint(fields[2], 10, 32)
	g, err2 := strconv.ParseUint(fields[3], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("unable to find user %s: bad passwd entry", name)
	}
	return uint32(u), uint32(g), nil
}

// primaryGroup is the group of a numeric user in the image's /etc/passwd, 0
// when it has none there.
func primaryGroup(rootfs, uid string) (uint32, error) {
	fields, err := findEntry(filepath.Join(rootfs, "etc/passwd"), uid, 2)
	if err != nil || len(fields) < 4 {
		return 0, err
	}
	g, err := strconv.ParseUint(fields[3], 10, 32)
	return uint32(g), err
}

func lookupGroup(rootfs, name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	fields, err := findEntry(filepath.Join(rootfs, "etc/group"), name, 0)
	if err != nil || len(fields) < 3 {
		return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", name)
	}
	g, err := strconv.ParseUint(fields[2], 10, 32)
	return uint32(g), err
}

// findEntry returns the fields of the first line of a colon-separated file
// whose field col is key. The file is read through the root filesystem
// without following its symlinks out of it.
func findEntry(path, key string, col int) ([]string, error) {
	root, err := os.OpenRoot(filepath.Dir(filepath.Dir(path)))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(filepath.Join(filepath.Base(filepath.Dir(path)), filepath.Base(path)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > col && fields[col] == key {
			return fields, nil
		}
	}
	return nil, errors.New("not found")
}

// containerMounts are the container's volume mounts followed by the pod's
// /etc/hosts, /etc/hostname, /etc/resolv.conf and the termination log.
func (k *Kubelet) containerMounts(pod *corev1.Pod, c *corev1.Container, env []corev1.EnvVar, paths volume.Paths, attempt int) ([]runtime.Mount, error) {
	var mounts []runtime.Mount
	mounted := map[string]bool{}
	envMap := make(map[string]string, len(env))
	for _, e := range env {
		envMap[e.Name] = e.Value
	}
	for _, vm := range c.VolumeMounts {
		src, ok := paths[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = envvars.Expand(vm.SubPathExpr, func(name string) (string, bool) { v, ok := envMap[name]; return v, ok })
		}
		if sub != "" {
			resolved, err := volume.SubPath(src, sub)
			if err != nil {
				return nil, fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q: %w", vm.Name, c.Name, err)
			}
			src = resolved
		}
		mounts = append(mounts, runtime.Mount{Source: src, Destination: vm.MountPath, ReadOnly: vm.ReadOnly})
		mounted[filepath.Clean(vm.MountPath)] = true
	}
	dir := k.podDir(pod.UID)
	for _, f := range []struct{ file, dest string }{
		{etcHostsFile, "/etc/hosts"},
		{hostnameFile, "/etc/hostname"},
		{resolvConfFile, "/etc/resolv.conf"},
	} {
		if !mounted[f.dest] {
			mounts = append(mounts, runtime.Mount{Source: filepath.Join(dir, f.file), Destination: f.dest})
		}
	}
	termPath := c.TerminationMessagePath
	if termPath == "" {
		termPath = defaultTermPath
	}
	hostTerm := k.terminationLogPath(pod.UID, c.Name, attempt)
	if err := os.MkdirAll(filepath.Dir(hostTerm), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(hostTerm, nil, 0o666); err != nil {
		return nil, err
	}
	if err := os.Chmod(hostTerm, 0o666); err != nil { // writable whatever the container's user
		return nil, err
	}
	if !mounted[filepath.Clean(termPath)] {
		mounts = append(mounts, runtime.Mount{Source: hostTerm, Destination: termPath})
	}
	return mounts, nil
}

func (k *Kubelet) podDir(uid types.UID) string { return filepath.Join(k.cfg.PodsDir, string(uid)) }

func (k *Kubelet) terminationLogPath(uid types.UID, container string, attempt int) string {
	return filepath.Join(k.podDir(uid), terminationDir, container, strconv.Itoa(attempt)+"-termination-log")
}

// podHostname is the pod's hostname: spec.hostname, else its name, cut to
// 63 characters as upstream does.
func podHostname(pod *corev1.Pod) string {
	if pod.Spec.HostNetwork {
		return ""
	}
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// writePodFiles writes the pod's /etc/hosts, /etc/hostname and
// /etc/resolv.conf.
func (k *Kubelet) writePodFiles(pod *corev1.Pod, s *podState) error {
	dir := k.podDir(pod.UID)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating pod directory: %w", err)
	}
	hostname := podHostname(pod)
	if pod.Spec.HostNetwork {
		hostname, _ = os.Hostname()
	}
	hosts, err := k.hostsFile(pod, s, hostname)
	if err != nil {
		return err
	}
	resolv, err := k.resolvConf(pod)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{etcHostsFile: hosts, hostnameFile: []byte(hostname + "\n"), resolvConfFile: resolv} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// hostsFile is the kubelet-managed /etc/hosts: the host's for hostNetwork
// pods, else localhost entries and the pod's own name; host aliases last.
func (k *Kubelet) hostsFile(pod *corev1.Pod, s *podState, hostname string) ([]byte, error) {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	if pod.Spec.HostNetwork {
		host, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return nil, fmt.Errorf("reading the host's /etc/hosts: %w", err)
		}
		b.Write(host)
	} else {
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
		names := hostname
		if pod.Spec.Subdomain != "" {
			names = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", hostname, pod.Spec.Subdomain, pod.Namespace, k.cfg.ClusterDomain, hostname)
		}
		for _, ip := range k.podIPs(pod, s) {
			fmt.Fprintf(&b, "%s\t%s\n", ip, names)
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return []byte(b.String()), nil
}

// resolvConf is the pod's resolver configuration for its dnsPolicy and
// dnsConfig.
func (k *Kubelet) resolvConf(pod *corev1.Pod) ([]byte, error) {
	var servers, searches, options []string
	policy := pod.Spec.DNSPolicy
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if policy == corev1.DNSClusterFirstWithHostNet {
		policy = corev1.DNSClusterFirst
	}
	switch {
	case policy == corev1.DNSNone:
	case (policy == corev1.DNSClusterFirst || policy == "") && len(k.cfg.ClusterDNS) > 0:
		servers = k.cfg.ClusterDNS
		d := k.cfg.ClusterDomain
		searches = []string{pod.Namespace + ".svc." + d, "svc." + d, d}
		options = []string{"ndots:5"}
	default:
		// No cluster DNS yet (or dnsPolicy Default): the host's resolver.
		path := k.cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		host, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		servers, searches, options = parseResolvConf(string(host))
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		searches = append(searches, dc.Searches...)
		for _, o := range dc.Options {
			if o.Value != nil {
				options = append(options, o.Name+":"+*o.Value)
			} else {
				options = append(options, o.Name)
			}
		}
	}
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(searches, " "))
	}
	if len(options) > 0 {
		sort.Strings(options)
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return []byte(b.String()), nil
}

func parseResolvConf(s string) (servers, searches, options []string) {
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search":
			searches = f[1:]
		case "options":
			options = append(options, f[1:]...)
		}
	}
	return servers, searches, options
}

// removePodFiles removes the kubelet's files for a pod and its volumes.
func (k *Kubelet) removePodFiles(ctx context.Context, uid types.UID) error {
	dir := k.podDir(uid)
	for _, name := range []string{etcHostsFile, hostnameFile, resolvConfFile, terminationDir} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("removing files of pod %s: %w", uid, err)
		}
	}
	if err := k.cfg.Volumes.TearDown(ctx, uid); err != nil {
		return fmt.Errorf("tearing down volumes of pod %s: %w", uid, err)
	}
	return nil
}

// podIPs are the pod's addresses: the host's for hostNetwork pods, else
// those the pod network gave its sandbox.
func (k *Kubelet) podIPs(pod *corev1.Pod, s *podState) []string {
	if pod.Spec.HostNetwork {
		return k.cfg.HostIPs
	}
	return s.ips
}
