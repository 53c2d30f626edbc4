package monitor_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboard checks that the dashboard is valid JSON and that every
// metric and label its queries use is one the collector exports.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/secretcache-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) < 10 {
		t.Fatalf("dashboard incomplete: %q %q %d panels", dash.Title, dash.UID, len(dash.Panels))
	}

	// Everything the collector can export, per-secret series included.
	m, _, _ := runScript(t, true)
	fams, _ := scrape(t, m.MetricsHandler())
	labels := map[string]map[string]bool{}
	for name, f := range fams {
		ls := map[string]bool{"instance": true, "job": true}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				ls[l.GetName()] = true
			}
		}
		if f.GetType().String() == "HISTOGRAM" {
			ls["le"] = true
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				labels[name+suffix] = ls
			}
			continue
		}
		labels[name] = ls
	}

	metricRE := regexp.MustCompile(`secretcache_[a-z_]+`)
	selectorRE := regexp.MustCompile(`(secretcache_[a-z_]+)\{([^}]*)\}`)
	byRE := regexp.MustCompile(`by \(([^)]*)\)`)
	ids := map[int]bool{}
	queries := 0
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("duplicate panel id %d", p.ID)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			queries++
			used := metricRE.FindAllString(tg.Expr, -1)
			if len(used) == 0 {
				t.Errorf("panel %q: query uses no secretcache metric: %s", p.Title, tg.Expr)
			}
			for _, name := range used {
				if labels[name] == nil {
					t.Errorf("panel %q: unknown metric %s", p.Title, name)
				}
			}
			for _, sel := range selectorRE.FindAllStringSubmatch(tg.Expr, -1) {
				for _, matcher := range strings.Split(sel[2], ",") {
					lname := strings.TrimSpace(strings.FieldsFunc(matcher, func(r rune) bool { return r == '=' || r == '!' || r == '~' })[0])
					if !labels[sel[1]][lname] {
						t.Errorf("panel %q: metric %s has no label %s", p.Title, sel[1], lname)
					}
				}
			}
			for _, by := range byRE.FindAllStringSubmatch(tg.Expr, -1) {
				for _, lname := range strings.Split(by[1], ",") {
					lname = strings.TrimSpace(lname)
					ok := false
					for _, name := range used {
						ok = ok || labels[name][lname]
					}
					if !ok {
						t.Errorf("panel %q: no metric of %v has label %s", p.Title, used, lname)
					}
				}
			}
		}
	}
	if queries < 15 {
		t.Errorf("only %d queries", queries)
	}
}
