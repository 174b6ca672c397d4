package template

import (
	"strings"
	"testing"
)

// FuzzRender renders the hostile template with random values, inserted
// without checks, and requires the parsed document to have exactly the
// expected keys, list lengths and values.
func FuzzRender(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s, s, s)
	}
	f.Add("web-01", "genie", "touch /var/tmp/marker")
	f.Add("\xff\xfe", "a\x00b", "\"\\\n")
	tmpl := newTestTemplate(hostileTemplate)

	f.Fuzz(func(t *testing.T, a, b, c string) {
		var values Values
		_ = values.Set(VarHostname, a)
		_ = values.Set(VarUsername, b)
		_ = values.Set(VarSSHPublicKey, c)
		_ = values.Set(VarTimezone, a+b)
		_ = values.Set(VarLocale, b+c)
		_ = values.Set(VarKeyboardLayout, c+a)
		_ = values.Set(VarInstanceID, c)
		_ = values.SetList(VarPackages, []string{a, b})
		_ = values.SetList(VarRuncmd, []string{c, a, b})
		r, err := tmpl.render(values, renderOptions{skipChecks: true})
		if err != nil {
			t.Fatalf("render failed: %v", err)
		}
		// The renderer writes invalid UTF-8 bytes as U+FFFD, one for each
		// byte, as converting to []rune does.
		for name, value := range r.Strings {
			r.Strings[name] = string([]rune(value))
		}
		r.Hostname = r.Strings[VarHostname]
		r.InstanceID = r.Strings[VarInstanceID]
		for name, items := range r.Lists {
			for i, item := range items {
				items[i] = string([]rune(item))
			}
			r.Lists[name] = items
		}
		checkHostileDocument(t, r, a+"|"+b+"|"+c)
	})
}

// FuzzTemplateText renders random template text. The renderer must not
// panic, and a render that succeeds must be valid YAML in which every
// placeholder became the value (checked by the renderer's own parse).
func FuzzTemplateText(f *testing.F) {
	for _, text := range hostileTemplate {
		f.Add(text)
	}
	f.Add("#cloud-config\na: |\n  {{ HOSTNAME }}\nb: [ {{ HOSTNAME }}, 'x{{ USERNAME }}' ]\n")
	f.Add("#cloud-config\n- {{ PACKAGES }}\nk: \"{{ X\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		tmpl := newTestTemplate(map[string]string{UserDataFile: "#cloud-config\n" + text, MetaDataFile: testMetaData})
		values := SampleValues()
		_ = values.Set(VarHostname, "a\n- zqinjected: zq")
		r, err := tmpl.render(values, renderOptions{skipChecks: true})
		if err != nil {
			return
		}
		if strings.Contains(string(r.UserData), "\n- zqinjected: zq") {
			t.Fatalf("hostname value was inserted as raw text:\n%s", r.UserData)
		}
	})
}
