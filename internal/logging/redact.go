package logging

import (
	"log/slog"
	"strings"
)

// Redacted replaces the value of a secret attribute.
const Redacted = "[REDACTED]"

// secretWords are the parts of a key that mark its value as secret. Keys
// are compared in lower case with '_', '-' and '.' removed, so
// "private_key", "privateKey" and "Private-Key" all match "privatekey".
// "ssh_public_key" matches none of them: public keys are not secrets.
var secretWords = []string{
	"password",
	"passwd",
	"passphrase",
	"privatekey",
	"secret",
	"token",
	"credential",
	"apikey",
}

// IsSecretKey reports whether an attribute or map key names a secret.
func IsSecretKey(key string) bool {
	normalized := strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(key))
	for _, word := range secretWords {
		if strings.Contains(normalized, word) {
			return true
		}
	}
	return false
}

// RedactAttr is a slog.HandlerOptions.ReplaceAttr function. It replaces the
// value of every attribute whose key, or the key of an enclosing group,
// names a secret, and redacts secret keys inside map and slice values.
func RedactAttr(groups []string, a slog.Attr) slog.Attr {
	for _, g := range groups {
		if IsSecretKey(g) {
			return slog.String(a.Key, Redacted)
		}
	}
	if IsSecretKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	if a.Value.Kind() == slog.KindAny {
		if v, changed := RedactValue(a.Value.Any()); changed {
			return slog.Any(a.Key, v)
		}
	}
	return a
}

// RedactValue returns a copy of v in which the values of secret keys of
// maps are replaced by Redacted, at any depth of map[string]any and []any,
// the shapes that decoded JSON has. changed is false, and v is returned as
// it is, when nothing was redacted.
func RedactValue(v any) (redacted any, changed bool) {
	switch v := v.(type) {
	case map[string]any:
		var out map[string]any
		for key, value := range v {
			newValue, valueChanged := value, false
			if IsSecretKey(key) {
				newValue, valueChanged = Redacted, true
			} else {
				newValue, valueChanged = RedactValue(value)
			}
			if valueChanged && out == nil {
				out = make(map[string]any, len(v))
				for k, old := range v {
					out[k] = old
				}
			}
			if out != nil {
				out[key] = newValue
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	case map[string]string:
		var out map[string]string
		for key := range v {
			if !IsSecretKey(key) {
				continue
			}
			if out == nil {
				out = make(map[string]string, len(v))
				for k, old := range v {
					out[k] = old
				}
			}
			out[key] = Redacted
		}
		if out == nil {
			return v, false
		}
		return out, true
	case []any:
		var out []any
		for i, item := range v {
			newItem, itemChanged := RedactValue(item)
			if itemChanged && out == nil {
				out = append([]any(nil), v...)
			}
			if out != nil {
				out[i] = newItem
			}
		}
		if out == nil {
			return v, false
		}
		return out, true
	}
	return v, false
}
