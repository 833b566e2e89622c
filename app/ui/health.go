package ui

import (
	"fmt"
	"image/color"
	"sort"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/lifeboat-mail/lifeboat/app/engine"
	"github.com/lifeboat-mail/lifeboat/store/incidents"
	"github.com/lifeboat-mail/lifeboat/sync/health"
)

// The Health view (README "Outage detection and failover"): per account
// its state in words, per protocol a heartbeat bar of the recent checks
// and a latency chart of the last 24 hours, the delivery checks, and the
// incidents grouped by day. Every coloured mark carries a glyph or a word
// as well.

// HeartbeatBlocks is how many recent checks a heartbeat bar shows.
const HeartbeatBlocks = 30

// Beat is one block of a heartbeat bar: its glyph and its colour.
type Beat struct {
	Glyph string // "✓" answered, "!" slow, "✗" failed
	Color color.Color
}

var (
	okColor   = color.NRGBA{R: 0x2e, G: 0x9d, B: 0x4b, A: 0xff}
	slowColor = color.NRGBA{R: 0xe0, G: 0xa1, B: 0x00, A: 0xff}
	failColor = color.NRGBA{R: 0xd0, G: 0x2b, B: 0x2b, A: 0xff}
)

// Beats are the blocks of the last HeartbeatBlocks checks, oldest first.
func Beats(checks []health.Check, slow time.Duration) []Beat {
	var out []Beat
	for _, c := range checks[max(0, len(checks)-HeartbeatBlocks):] {
		switch {
		case !c.OK:
			out = append(out, Beat{"✗", failColor})
		case slow > 0 && c.Latency > slow:
			out = append(out, Beat{"!", slowColor})
		default:
			out = append(out, Beat{"✓", okColor})
		}
	}
	return out
}

func heartbeat(checks []health.Check, slow time.Duration) fyne.CanvasObject {
	row := container.NewHBox()
	for _, b := range Beats(checks, slow) {
		rect := canvas.NewRectangle(b.Color)
		rect.CornerRadius = 2
		glyph := canvas.NewText(b.Glyph, color.White)
		glyph.TextSize = 10
		glyph.Alignment = fyne.TextAlignCenter
		row.Add(container.NewGridWrap(fyne.NewSize(12, 20), container.NewStack(rect, container.NewCenter(glyph))))
	}
	if len(row.Objects) == 0 {
		row.Add(widget.NewLabel("no checks yet"))
	}
	return row
}

// TrackText sums up one protocol's checks of the last 24 hours in words.
func TrackText(proto string, checks []health.Check, slow time.Duration) string {
	if len(checks) == 0 {
		return strings.ToUpper(proto) + ": no checks in the last 24 hours"
	}
	var lat []time.Duration
	failed, slowN := 0, 0
	for _, c := range checks {
		if !c.OK {
			failed++
			continue
		}
		lat = append(lat, c.Latency)
		if slow > 0 && c.Latency > slow {
			slowN++
		}
	}
	s := fmt.Sprintf("%s: %d checks in 24 h", strings.ToUpper(proto), len(checks))
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		s += fmt.Sprintf(", answered in %s typically, %s at the slowest", latencyWords(lat[len(lat)/2]), latencyWords(lat[len(lat)-1]))
	}
	if slowN > 0 {
		s += fmt.Sprintf(", %d slow", slowN)
	}
	if failed > 0 {
		s += fmt.Sprintf(", %d failed", failed)
	}
	last := checks[len(checks)-1]
	if last.OK {
		s += "; last " + last.Time.Local().Format("15:04") + " ✓"
	} else {
		s += "; last " + last.Time.Local().Format("15:04") + " ✗ " + last.Cause
	}
	return s
}

func latencyWords(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1 ms"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// CanaryText is what the delivery checks of the last 24 hours came to.
func CanaryText(h engine.History) string {
	if len(h.Canary) == 0 {
		s := "Delivery checks: none in the last 24 hours (switch them on with [account.canary], README \"Delivery checks\")"
		if h.Bounces > 0 {
			s += fmt.Sprintf("; %d bounced message(s) sent through it", h.Bounces)
		}
		return s
	}
	arrived, junk := 0, 0
	for _, c := range h.Canary {
		if c.OK {
			arrived++
			if c.Warning != "" {
				junk++
			}
		}
	}
	s := fmt.Sprintf("Delivery checks in 24 h: %d of %d arrived", arrived, len(h.Canary))
	if junk > 0 {
		s += fmt.Sprintf(" (%d in the junk folder)", junk)
	}
	last := h.Canary[len(h.Canary)-1]
	switch {
	case !last.OK:
		s += "; the last, at " + last.Time.Local().Format("15:04") + ", did NOT arrive ✗ — mail accepted but not delivered: " + last.Cause
	case last.Warning != "":
		s += "; the last arrived in the junk folder ! (" + last.Time.Local().Format("15:04") + ")"
	default:
		s += fmt.Sprintf("; the last arrived ✓ at %s, in %s", last.Time.Local().Format("15:04"), latencyWords(last.Latency))
	}
	if h.Bounces > 0 {
		s += fmt.Sprintf("; %d bounced message(s) sent through it", h.Bounces)
	}
	return s
}

// chartBuckets is how many points a latency chart draws (15 minutes each).
const chartBuckets = 96

// ChartPoint is one bucket of a latency chart: the slowest answer in it,
// and whether a check in it failed.
type ChartPoint struct {
	Latency time.Duration
	Checks  int
	Failed  bool
}

// ChartPoints buckets a day of checks ending at now.
func ChartPoints(checks []health.Check, now time.Time) []ChartPoint {
	pts := make([]ChartPoint, chartBuckets)
	span := engine.HistorySpan
	for _, c := range checks {
		age := now.Sub(c.Time)
		if age < 0 || age >= span {
			continue
		}
		i := chartBuckets - 1 - int(age*chartBuckets/span)
		p := &pts[i]
		p.Checks++
		if !c.OK {
			p.Failed = true
		} else if c.Latency > p.Latency {
			p.Latency = c.Latency
		}
	}
	return pts
}

// LatencyChart draws a day of answers: a line of the slowest answer per 15
// minutes, scaled to the day's slowest, a red stroke (and ✗ in the
// caption) where a check failed, and a yellow line at the slow threshold
// when the day reached it.
type LatencyChart struct {
	widget.BaseWidget
	points []ChartPoint
	slow   time.Duration
}

// NewLatencyChart returns a chart of pts.
func NewLatencyChart(pts []ChartPoint, slow time.Duration) *LatencyChart {
	c := &LatencyChart{points: pts, slow: slow}
	c.ExtendBaseWidget(c)
	return c
}

// CreateRenderer draws the chart.
func (c *LatencyChart) CreateRenderer() fyne.WidgetRenderer {
	r := &chartRenderer{c: c, bg: canvas.NewRectangle(color.NRGBA{R: 0x80, G: 0x80, B: 0x80, A: 0x22})}
	r.top = canvas.NewText("", color.NRGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff})
	r.top.TextSize = 10
	r.axis = canvas.NewText("24 h ago … now", color.NRGBA{R: 0x88, G: 0x88, B: 0x88, A: 0xff})
	r.axis.TextSize = 10
	r.limit = canvas.NewLine(slowColor)
	r.limit.StrokeWidth = 1
	r.build()
	return r
}

type chartRenderer struct {
	c         *LatencyChart
	bg        *canvas.Rectangle
	top, axis *canvas.Text
	limit     *canvas.Line
	lines     []*canvas.Line
	fails     []*canvas.Line
	ceiling   time.Duration
}

func (r *chartRenderer) build() {
	r.lines, r.fails = nil, nil
	r.ceiling = 0 // the slowest answer: the day's shape shows, not a flat line under the threshold
	for _, p := range r.c.points {
		r.ceiling = max(r.ceiling, p.Latency)
	}
	r.limit.Hidden = r.c.slow <= 0 || r.c.slow > r.ceiling
	if r.ceiling <= 0 {
		r.ceiling = time.Second
	}
	r.top.Text = latencyWords(r.ceiling)
	if !r.limit.Hidden {
		r.top.Text += " (slow above " + latencyWords(r.c.slow) + ", the yellow line)"
	}
	for i := 1; i < len(r.c.points); i++ {
		if r.c.points[i-1].Latency > 0 && r.c.points[i].Latency > 0 {
			l := canvas.NewLine(okColor)
			l.StrokeWidth = 2
			r.lines = append(r.lines, l)
		} else {
			r.lines = append(r.lines, nil)
		}
	}
	for range r.c.points {
		r.fails = append(r.fails, nil)
	}
	for i, p := range r.c.points {
		if p.Failed {
			l := canvas.NewLine(failColor)
			l.StrokeWidth = 3
			r.fails[i] = l
		}
	}
}

func (r *chartRenderer) Layout(size fyne.Size) {
	r.bg.Resize(size)
	r.top.Move(fyne.NewPos(2, 0))
	r.axis.Move(fyne.NewPos(2, size.Height-12))
	n := len(r.c.points)
	if n < 2 {
		return
	}
	plotTop, plotBottom := float32(14), size.Height-14
	y := func(d time.Duration) float32 {
		return plotBottom - (plotBottom-plotTop)*float32(float64(d)/float64(r.ceiling))
	}
	x := func(i int) float32 { return size.Width * float32(i) / float32(n-1) }
	if !r.limit.Hidden {
		r.limit.Position1, r.limit.Position2 = fyne.NewPos(0, y(r.c.slow)), fyne.NewPos(size.Width, y(r.c.slow))
	}
	for i, l := range r.lines {
		if l != nil {
			l.Position1 = fyne.NewPos(x(i), y(r.c.points[i].Latency))
			l.Position2 = fyne.NewPos(x(i+1), y(r.c.points[i+1].Latency))
		}
	}
	for i, l := range r.fails {
		if l != nil {
			l.Position1, l.Position2 = fyne.NewPos(x(i), plotBottom), fyne.NewPos(x(i), plotTop)
		}
	}
}

func (r *chartRenderer) MinSize() fyne.Size { return fyne.NewSize(300, 72) }

func (r *chartRenderer) Refresh() {
	r.build()
	r.Layout(r.c.Size())
	canvas.Refresh(r.c)
}

func (r *chartRenderer) Objects() []fyne.CanvasObject {
	out := []fyne.CanvasObject{r.bg, r.limit, r.top, r.axis}
	for _, l := range r.lines {
		if l != nil {
			out = append(out, l)
		}
	}
	for _, l := range r.fails {
		if l != nil {
			out = append(out, l)
		}
	}
	return out
}

func (r *chartRenderer) Destroy() {}

// IncidentRow is one row of the incident list: a day's heading or an
// incident.
type IncidentRow struct {
	Heading bool
	Text    string
}

// IncidentRows groups incidents by day, newest first, each day under a
// heading ("Today", "Yesterday", "Monday 30 November").
func IncidentRows(evs []incidents.Event, now time.Time) []IncidentRow {
	evs = append([]incidents.Event(nil), evs...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.After(evs[j].Time) })
	var out []IncidentRow
	day := ""
	for _, ev := range evs {
		if d := dayWords(ev.Time, now); d != day {
			day = d
			out = append(out, IncidentRow{Heading: true, Text: d})
		}
		out = append(out, IncidentRow{Text: IncidentText(ev)})
	}
	return out
}

func dayWords(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	y1, m1, d1 := t.Date()
	y2, m2, d2 := now.Date()
	switch {
	case y1 == y2 && m1 == m2 && d1 == d2:
		return "Today"
	case t.AddDate(0, 0, 1).Format("2006-01-02") == now.Format("2006-01-02"):
		return "Yesterday"
	}
	return t.Format("Monday 2 January 2006")
}

// HealthCard is what the Health view shows of one account, in words (the
// same as the bars and the chart say; tests and screen readers read it).
func HealthCard(a engine.Account, h engine.History) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s", a.Name, a.State.Words())
	if a.Cause != "" && a.State != health.Up {
		b.WriteString(" (" + a.Cause + ")")
	}
	b.WriteString("\n")
	for _, p := range []string{"imap", "smtp"} {
		if p == "smtp" && !a.CanSend {
			continue
		}
		b.WriteString(TrackText(p, h.Checks[p], h.Slow) + "\n")
	}
	b.WriteString(CanaryText(h))
	return b.String()
}

func (w *Window) healthCard(a engine.Account, h engine.History, now time.Time) fyne.CanvasObject {
	light := canvas.NewCircle(stateColor(a.State))
	title := widget.NewLabelWithStyle(a.Name+" — "+a.State.Words(), fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	rows := container.NewVBox(container.NewBorder(nil, nil, container.NewCenter(container.NewGridWrap(fyne.NewSize(14, 14), light)), nil, title))
	if a.Cause != "" && a.State != health.Up {
		cause := widget.NewLabel(a.Cause)
		cause.Wrapping = fyne.TextWrapWord
		rows.Add(cause)
	}
	for _, p := range []string{"imap", "smtp"} {
		if p == "smtp" && !a.CanSend {
			continue
		}
		checks := h.Checks[p]
		name := widget.NewLabelWithStyle(strings.ToUpper(p), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		words := widget.NewLabel(TrackText(p, checks, h.Slow))
		words.Wrapping = fyne.TextWrapWord
		rows.Add(container.NewBorder(nil, nil, name, nil, container.NewVBox(container.NewHScroll(heartbeat(checks, h.Slow)), words)))
		if len(checks) > 0 {
			rows.Add(container.NewBorder(nil, nil, widget.NewLabel("   24 h"), nil, NewLatencyChart(ChartPoints(checks, now), h.Slow)))
		}
	}
	canary := widget.NewLabel(CanaryText(h))
	canary.Wrapping = fyne.TextWrapWord
	rows.Add(canary)
	return widget.NewCard("", "", rows)
}

func (w *Window) healthView() fyne.CanvasObject {
	cards := container.NewVBox()
	w.HealthCards = map[string]string{}
	showCards := func() {
		now := time.Now()
		var objs []fyne.CanvasObject
		for _, a := range w.eng.Accounts() {
			h := w.eng.History(a.Name)
			w.HealthCards[a.Name] = HealthCard(a, h)
			objs = append(objs, w.healthCard(a, h, now))
		}
		cards.Objects = objs
		cards.Refresh()
	}
	showCards()
	w.refresh = append(w.refresh, showCards)

	rows := IncidentRows(w.eng.Incidents(200), time.Now())
	w.Incidents = widget.NewList(
		func() int { return len(rows) },
		func() fyne.CanvasObject {
			l := widget.NewLabel("incident")
			l.Truncation = fyne.TextTruncateEllipsis
			return l
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			l := o.(*widget.Label)
			l.TextStyle = fyne.TextStyle{Bold: rows[i].Heading}
			if rows[i].Heading {
				l.SetText(rows[i].Text)
			} else {
				l.SetText("    " + rows[i].Text)
			}
		})
	w.refresh = append(w.refresh, func() {
		rows = IncidentRows(w.eng.Incidents(200), time.Now())
		w.IncidentRows = rows
		w.Incidents.Refresh()
	})
	w.IncidentRows = rows
	heading := widget.NewLabelWithStyle("Incidents, by day (checks run every minute; a real login every 10 minutes)", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	split := container.NewVSplit(container.NewVScroll(cards), container.NewBorder(heading, nil, nil, nil, w.Incidents))
	split.Offset = 0.62
	return split
}
