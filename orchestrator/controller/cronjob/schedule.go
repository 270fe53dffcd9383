package cronjob

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// tooManyMissed is upstream's bound on the start times a CronJob may have
// missed before the controller warns instead of trusting its clock.
const tooManyMissed = 100

// nextDelta is added to a requeue for the next scheduled time, so that the
// sync runs just after it rather than just before.
const nextDelta = 100 * time.Millisecond

// schedule parses cj's schedule in its time zone: spec.timeZone, else a
// TZ= or CRON_TZ= prefix of the schedule, else the controller's local zone.
func schedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	spec := cj.Spec.Schedule
	if tz := cj.Spec.TimeZone; tz != nil && !strings.Contains(spec, "TZ") {
		if _, err := time.LoadLocation(*tz); err != nil {
			return nil, fmt.Errorf("invalid timeZone %q: %w", *tz, err)
		}
		spec = "CRON_TZ=" + *tz + " " + spec
	}
	return cron.ParseStandard(spec)
}

// missed is the start times between a CronJob's last one and now.
type missed struct {
	latest *time.Time // the most recent, nil if none
	count  int        // how many, at most tooManyMissed+1
}

// unmetSchedule finds the start times cj has missed up to now: since its last
// scheduled time (or its creation), and no earlier than its starting deadline.
func unmetSchedule(cj *batchv1.CronJob, sched cron.Schedule, now time.Time) (missed, error) {
	earliest := cj.CreationTimestamp.Time
	if t := cj.Status.LastScheduleTime; t != nil {
		earliest = t.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		// Nothing older can start any more.
		if deadline := now.Add(-time.Duration(*d) * time.Second); deadline.After(earliest) {
			earliest = deadline
		}
	}
	var m missed
	t := sched.Next(earliest)
	for ; !t.IsZero() && !t.After(now) && m.count <= tooManyMissed; t = sched.Next(t) {
		m.latest = new(t)
		m.count++
	}
	if t.IsZero() && m.count == 0 {
		return m, errors.New("the schedule never fires")
	}
	if m.count <= tooManyMissed {
		return m, nil
	}
	// Too many to walk through one by one (a clock off by years): look back
	// from now over a window that doubles until it holds a start time, or
	// reaches back to the last one found.
	for window := time.Minute; ; window *= 2 {
		from := now.Add(-window)
		reachedLatest := !from.After(*m.latest)
		if reachedLatest {
			from = *m.latest
		}
		found := false
		for t := sched.Next(from); !t.IsZero() && !t.After(now); t = sched.Next(t) {
			m.latest, found = new(t), true
		}
		if found || reachedLatest {
			return m, nil
		}
	}
}

// jobName is the name of the Job cj starts at scheduled: the time in unix
// minutes makes it the same however often the controller looks.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}
