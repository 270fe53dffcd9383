package validation

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronField is one field of a standard cron schedule.
type cronField struct {
	min, max int
	names    map[string]int // month and weekday names, lower case
}

// The five fields of a standard schedule: minute, hour, day of month, month and
// day of week.
var cronFields = []cronField{
	{min: 0, max: 59},
	{min: 0, max: 23},
	{min: 1, max: 31},
	{min: 1, max: 12, names: map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}},
	{min: 0, max: 6, names: map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

var cronDescriptors = map[string]bool{"@yearly": true, "@annually": true, "@monthly": true,
	"@weekly": true, "@daily": true, "@midnight": true, "@hourly": true}

// parseSchedule checks a CronJob schedule as the CronJob controller reads it:
// five fields ("*/5 * * * 1-5"), a descriptor such as "@daily", or "@every 1h",
// optionally after a TZ= or CRON_TZ= time zone.
func parseSchedule(spec string) error {
	if spec == "" {
		return fmt.Errorf("empty spec string")
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		eq, sp := strings.Index(spec, "="), strings.Index(spec, " ")
		if sp < 0 {
			sp = len(spec)
		}
		if _, err := time.LoadLocation(spec[eq+1 : sp]); err != nil {
			return fmt.Errorf("provided bad location %s: %v", spec[eq+1:sp], err)
		}
		spec = strings.TrimSpace(spec[sp:])
	}
	if strings.HasPrefix(spec, "@") {
		if cronDescriptors[spec] {
			return nil
		}
		if d, ok := strings.CutPrefix(spec, "@every "); ok {
			if _, err := time.ParseDuration(d); err != nil {
				return fmt.Errorf("failed to parse duration %s: %s", spec, err)
			}
			return nil
		}
		return fmt.Errorf("unrecognized descriptor: %s", spec)
	}
	fields := strings.Fields(spec)
	if len(fields) != len(cronFields) {
		return fmt.Errorf("expected exactly %d fields, found %d: %s", len(cronFields), len(fields), fields)
	}
	for i, f := range fields {
		for _, expr := range strings.Split(f, ",") {
			if err := cronFields[i].check(expr); err != nil {
				return err
			}
		}
	}
	return nil
}

// check checks one element of a field: "*", "?", a value, a range "a-b", each
// optionally with a step "/n".
func (f cronField) check(expr string) error {
	rangeAndStep := strings.Split(expr, "/")
	if len(rangeAndStep) > 2 {
		return fmt.Errorf("too many slashes: %s", expr)
	}
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	if len(lowAndHigh) > 2 {
		return fmt.Errorf("too many hyphens: %s", expr)
	}
	start, end := f.min, f.max
	if lowAndHigh[0] != "*" && lowAndHigh[0] != "?" {
		var err error
		if start, err = f.value(lowAndHigh[0], expr); err != nil {
			return err
		}
		end = start
		if len(lowAndHigh) == 2 {
			if end, err = f.value(lowAndHigh[1], expr); err != nil {
				return err
			}
		}
	}
	step := 1
	if len(rangeAndStep) == 2 {
		var err error
		if step, err = number(rangeAndStep[1], expr); err != nil {
			return err
		}
		if len(lowAndHigh) == 1 {
			end = f.max // "5/10" means from 5 to the end
		}
	}
	switch {
	case start < f.min:
		return fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, f.min, expr)
	case end > f.max:
		return fmt.Errorf("end of range (%d) above maximum (%d): %s", end, f.max, expr)
	case start > end:
		return fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	return nil
}

func (f cronField) value(s, expr string) (int, error) {
	if n, ok := f.names[strings.ToLower(s)]; ok {
		return n, nil
	}
	return number(s, expr)
}

func number(s, expr string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %s", s, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, expr)
	}
	return n, nil
}
