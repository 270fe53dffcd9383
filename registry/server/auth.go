package server

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// checkHtpasswd refuses an htpasswd file distribution would mishandle. Given a
// missing file, distribution creates one with a random password and logs the
// password; given entries that are not bcrypt, it rejects every login.
func checkHtpasswd(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading htpasswd file: %w", err)
	}
	defer f.Close()
	users := 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		user, hash, ok := strings.Cut(t, ":")
		if !ok || user == "" {
			return fmt.Errorf("htpasswd file %s, line %d: want user:hash", path, line)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("htpasswd file %s, line %d: user %q: only bcrypt hashes are supported (htpasswd -B): %w", path, line, user, err)
		}
		users++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading htpasswd file %s: %w", path, err)
	}
	if users == 0 {
		return errors.New("htpasswd file " + path + " has no users: nobody could log in")
	}
	return nil
}
