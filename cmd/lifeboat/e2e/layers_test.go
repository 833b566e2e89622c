package e2e

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The layers of the code, as README's "Where things are" describes them,
// checked on every package of the module:
//
//   - store/ knows disks and formats: it imports nothing from sync/ or app/;
//   - sync/ knows the network: it imports nothing from app/;
//   - the test harnesses (sync/testenv) are imported only by tests and the
//     benchmark programs, and the product binary links neither them nor
//     the testing package, on any of its systems;
//   - Fyne is imported only by the desktop packages (app/ui, app/desktop),
//     so every other package builds without cgo for Windows and macOS;
//   - app/ui only shows: no file, network or process I/O of its own, and of
//     Lifeboat's store and sync packages it uses types and pure helpers
//     only; everything else goes through the engine.
const module = "github.com/lifeboat-mail/lifeboat"

type pkg struct {
	path, dir          string
	imports, testOnly  []string
	goFiles            []string
	testenv, benchmark bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{.Dir}}|{{join .Imports \",\"}}|{{join .TestImports \",\"}},{{join .XTestImports \",\"}}|{{join .GoFiles \",\"}}", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 5 {
			t.Fatalf("go list line %q", line)
		}
		p := pkg{path: strings.TrimPrefix(f[0], module+"/"), dir: f[1], imports: split(f[2]), testOnly: split(f[3]), goFiles: split(f[4])}
		p.testenv = strings.HasPrefix(p.path, "sync/testenv")
		p.benchmark = strings.HasPrefix(p.path, "cmd/lifeboat-bench")
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("only %d packages listed", len(pkgs))
	}
	return pkgs
}

func split(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

func under(importPath, dir string) bool {
	rel, ok := strings.CutPrefix(importPath, module+"/")
	return ok && (rel == dir || strings.HasPrefix(rel, dir+"/"))
}

func TestLayers(t *testing.T) {
	for _, p := range listPackages(t) {
		all := append(append([]string(nil), p.imports...), p.testOnly...)
		for _, imp := range all {
			if strings.HasPrefix(p.path, "store/") && (under(imp, "sync") || under(imp, "app")) {
				t.Errorf("%s imports %s: store/ must not depend on sync/ or app/", p.path, imp)
			}
			if strings.HasPrefix(p.path, "sync/") && under(imp, "app") {
				t.Errorf("%s imports %s: sync/ must not depend on app/", p.path, imp)
			}
		}
		for _, imp := range p.imports { // non-test code
			if under(imp, "sync/testenv") && !p.testenv && !p.benchmark {
				t.Errorf("%s imports %s outside its tests: the harnesses are for tests and benchmarks", p.path, imp)
			}
			if strings.HasPrefix(imp, "fyne.io/") && p.path != "app/ui" && p.path != "app/desktop" {
				t.Errorf("%s imports %s: only app/ui and app/desktop may use Fyne", p.path, imp)
			}
			if imp == "testing" && !p.testenv {
				t.Errorf("%s imports testing outside its tests", p.path)
			}
		}
	}
}

func TestProductLinksNoTestCode(t *testing.T) {
	for _, goos := range []string{"linux", "windows", "darwin"} {
		cmd := exec.Command("go", "list", "-deps", module+"/cmd/lifeboat")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=1") // the desktop app needs cgo on every system
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps (%s): %v", goos, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 100 {
			t.Fatalf("%s: only %d dependencies listed", goos, len(deps))
		}
		for _, d := range deps {
			if d == "testing" || under(d, "sync/testenv") {
				t.Errorf("the %s binary links %s", goos, d)
			}
		}
	}
}

// uiIOImports are the packages through which code reads or writes files,
// talks to the network or runs programs.
var uiIOImports = map[string]bool{"os": true, "os/exec": true, "io/ioutil": true, "io/fs": true, "syscall": true,
	"net": true, "net/http": true, "net/smtp": true, "crypto/tls": true, "database/sql": true}

// uiAllowedCalls are the functions of Lifeboat's store and sync packages
// that app/ui may call: pure helpers, no I/O.
var uiAllowedCalls = map[string]bool{"config.DefaultArchiveDir": true, "health.ParseState": true}

func TestUIOnlyShows(t *testing.T) {
	var ui *pkg
	pkgs := listPackages(t)
	for i := range pkgs {
		if pkgs[i].path == "app/ui" {
			ui = &pkgs[i]
		}
	}
	if ui == nil {
		t.Fatal("no app/ui package")
	}
	for _, imp := range ui.imports {
		if uiIOImports[imp] || strings.HasPrefix(imp, "net/") && imp != "net/mail" && imp != "net/url" {
			t.Errorf("app/ui imports %s: the UI does no I/O of its own; give the engine a method", imp)
		}
	}
	fset := token.NewFileSet()
	for _, name := range ui.goFiles {
		f, err := parser.ParseFile(fset, filepath.Join(ui.dir, name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		local := map[string]bool{} // import names of Lifeboat's store and sync packages
		for _, is := range f.Imports {
			path, _ := strconv.Unquote(is.Path.Value)
			if under(path, "store") || under(path, "sync") {
				n := filepath.Base(path)
				if is.Name != nil {
					n = is.Name.Name
				}
				local[n] = true
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && local[id.Name] && id.Obj == nil {
				if fn := id.Name + "." + sel.Sel.Name; !uiAllowedCalls[fn] {
					t.Errorf("%s: app/ui calls %s; the UI reaches the store and the network only through the engine", fset.Position(call.Pos()), fn)
				}
			}
			return true
		})
	}
}

// TestREADMEMapMatchesTree: README's "Where things are" table lists every
// package of the module, and nothing that is not one.
func TestREADMEMapMatchesTree(t *testing.T) {
	readme, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Where things are\n")
	if !ok {
		t.Fatal(`README has no "## Where things are" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			if path, _, ok := strings.Cut(rest, "`"); ok {
				listed[path] = true
			}
		}
	}
	for _, p := range listPackages(t) {
		if !listed[p.path] {
			t.Errorf("README's map does not list %s", p.path)
		}
		delete(listed, p.path)
	}
	for path := range listed {
		t.Errorf("README's map lists %s, which is not a package", path)
	}
}
