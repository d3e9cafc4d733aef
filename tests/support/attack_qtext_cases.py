"""Files for independent attack q on vet's session-39 text and name claims
(tests/quarantine/test_attack_independent_qtext.py).

Text: where a line ends for the one-`ESC [ A`-a-line rule (CR, VT, U+2028, U+2029, CRLF), the
file's first line (behind a BOM, a CR or a VT), the 1 MiB chunk boundary (a cursor-up, an ESC
or a UTF-16 C2 9B split across it, a first line longer than 1 MiB, UTF-16 BS counting across
it), UTF-16 bytes CR, LF or VT inside a character before BS; and two readers the docs do not
name: `tac` (a file's unterminated last line joins the line before it) and `rev` (a line's
`c ESC [ A` reversed is `A [ ESC c`, RIS). Names: tool files read from `.` (or its parents)
that run code, beside those the docs list; LaTeX jobs known from what gunzip makes.
"""

from __future__ import annotations

import gzip
import json

UP = b"\x1b[A"
MIB = 1 << 20


def _le(text: str) -> bytes:
    return b"\xff\xfe" + text.encode("utf-16-le")


def _at(pos: int, tail: bytes) -> bytes:
    """`tail` placed at byte `pos` of a file whose first line is `s`."""
    return b"s\n" + b"x" * (pos - 2) + tail


# 30 printable bytes ('A' twice a character), then 30 BS bytes (U+0808 is 08 08 in LE).
A30 = "\u4141" * 15
BS30 = "\u0808" * 15
# characters after the BOM so that the next one fills bytes MIB-2 and MIB-1
_N16 = (MIB - 2) // 2 - 1


def line_rule() -> dict[str, bytes]:
    """Two and more cursor-ups between two LFs, other line ends between them: refused."""
    return {
        "text/cr-lines.err": b"start\n" + (b"x" + UP + b"\r") * 10 + b"\n",
        "text/u2028.err": b"start\n" + (UP + "\u2028".encode()) * 10 + b"\n",
        "text/u2029.err": b"start\n" + (UP + "\u2029".encode()) * 10 + b"\n",
        "text/vt.err": b"start\n" + (UP + b"\x0b") * 10 + b"\n",
        "text/crlf2.err": b"a\r\n" + UP + b"x" + UP + b"\r\n",
        "text/bom-first.err": b"\xef\xbb\xbf" + UP + b"x\n",
        "text/cr-first.err": b"\r" + UP + b"x\n",
        "text/vt-first.err": b"\x0b" + UP + b"x\n",
    }


def chunk_rule() -> dict[str, bytes]:
    """The same rules across the 1 MiB chunk boundary: refused."""
    head = "\u4141" * _N16
    return {
        "big/split-up.err": _at(MIB - 1, UP + UP + b"\n"),
        "big/two-across.err": _at(MIB - 4, UP + b"y" + UP + b"\n"),
        "big/first-line.err": b"x" * (MIB + 10) + UP + b"\n",
        "big/first-line-3mib.err": b"x" * (3 * MIB + 10) + UP + b"\n",
        "big/open-esc.err": _at(MIB - 1, b"\x1b[2J\n"),
        "big/esc-bracket.err": _at(MIB - 2, b"\x1b[9A\n"),
        # bytes 41 C2 | 9B 39 41 00: CSI 9 A to a UTF-8 terminal, C2 the chunk's last byte
        "big/utf16-csi.log": _le(head + "\uc241\u399b\u0041\n"),
        "big/utf16-bs.log": _le("x\n" + "\u4141" * (_N16 - 1) + "\u0a0d" + BS30 + "\n"),
        "utf16/csi.log": _le("ab\uc241\u399b\u0041\n"),
    }


def bs_bytes() -> dict[str, bytes]:
    """UTF-16 characters whose bytes hold CR, LF or VT, then BS: the count restarts: refused."""
    return {
        "utf16/cr-byte-bs.log": _le("run\n" + A30 + "\u0d41" + BS30 + "\n"),
        "utf16/lf-byte-bs.log": _le("run\n" + A30 + "\u0a41" + BS30 + "\n"),
        "utf16/vt-byte-bs.log": _le("run\n" + A30 + "\u0b41" + BS30 + "\n"),
    }


def readers() -> dict[str, bytes]:
    """Admitted: one cursor-up a line, none on the first. `tac` prints the unterminated last
    line joined to the line before it (two cursor-ups on one row); `rev` turns `c ESC [ A`
    into `A [ ESC c` (RIS, a terminal reset)."""
    return {
        "tac/epoch.err": b"epoch 1 done\n" + UP + b"FORGED-LINE-1\n" + UP,
        "rev/epoch.err": b"epoch 1\nstep 4 sync" + UP + b"\n",
    }


def listed() -> dict[str, bytes]:
    """UTF-16: 30 printable bytes, NEL (C2 85: down a row, column 0), 30 BS bytes: NEL is
    one of the C1 pairs the docs admit ("IND, NEL ... move down")."""
    return {"utf16/nel-bs.log": _le("run\n" + A30 + "\u85c2" + BS30 + "\n")}


_RUN = b'# job tools\ncommand = "id > /tmp/job-4242"\n'
_PKG = json.dumps({"name": "results", "version": "1.0.0",
                   "scripts": {"test": "id > pwned", "start": "id"}}, indent=2)
TOOL_FILES = {
    "ctest/CTestTestfile.cmake": b'execute_process(COMMAND id OUTPUT_FILE pwned)\n'
                                 b'add_test(t "sh" "-c" "id")\n',
    "go/go.mod": b"module example.net/x\n\ngo 1.22\n\ntoolchain go1.99.0\n\n"
                 b"replace golang.org/x/net => /tmp/job-4242/net\n",
    "cargo/Cargo.toml": b'[package]\nname = "x"\nversion = "0.1.0"\nedition = "2021"\n'
                        b'build = "notes.txt"\n',
    "sbt/extra.sbt": b'val x = { scala.sys.process.Process("id").! ; 1 }\n',
    "thor/jobs.thor": b'Jobs = Class.new(Thor) { system("id") }\n',
    "gradle/build.gradle": b'"id".execute()\n',
    "gradle2/gradle.properties": b"org.gradle.java.home=/tmp/job-4242/jdk\n",
    "cabal/cabal.project.local": b"with-compiler: /tmp/job-4242/ghc\n",
    "jake/Jakefile": b'task("default", () => require("child_process").execSync("id"));\n',
    "cake/Cakefile": b'task "build", "x", -> require("child_process").execSync "id"\n',
    "grunt/Gruntfile.coffee": b'run = -> process.getBuiltinModule("child_process").execSync "id"\n'
                              b"run()\n",
    # (libmagic calls a file starting with `import` or `const` JavaScript: these start otherwise)
    "vite/vite.config.ts": b'/* plots */ const cp = process.getBuiltinModule("child_process"); '
                           b'cp.execSync("id"); export default {};\n',
    "eslint/eslint.config.ts": b'/* lint */ const cp = process.getBuiltinModule("child_process"); '
                               b'cp.execSync("id"); export default [];\n',
    "doxy/Doxyfile": b'INPUT_FILTER = "sh -c id"\nFILE_VERSION_FILTER = "id"\n',
    "mix/mix.exs": b'System.cmd("id", [])\n',
    "rebar/rebar.config": b'{pre_hooks, [{compile, "id"}]}.\n',
    "zig/build.zig": b'pub fn build(b: anytype) void { _ = b.addSystemCommand(&.{"id"}); }\n',
    "lein/project.clj": b'(clojure.java.shell/sh "id")\n(defproject x "0.1.0")\n',
    "mdbook/book.toml": b'[preprocessor.x]\ncommand = "sh -c id"\n',
    "mkdocs/mkdocs.yml": b"site_name: x\nhooks:\n  - /tmp/job-4242/hook.py\n",
    "cargomake/Makefile.toml": b'[tasks.default]\nscript = "id"\n',
    "cpan/cpanfile": b'system("id");\nrequires "JSON";\n',
    "procfile/Procfile": b"web: id > /tmp/job-4242\n",
    "mise/mise.toml": b'[hooks]\nenter = "id"\n',
    "npm/package.json": _PKG.encode() + b"\n",
    "composer/composer.json": json.dumps({"scripts": {"post-install-cmd": "id"}}).encode(),
    "babel/babel.config.json": json.dumps({"plugins": ["./notes.txt"]}).encode(),
    "fastlane/fastlane/Fastfile": b'lane :plots do\n  sh("id")\nend\n',
    "puppet/Puppetfile": b'system("id")\nmod "x", git: "https://example.net/x.git"\n',
    "sbt2/project/plugins.sbt": b'val x = { scala.sys.process.Process("id").! ; 1 }\n',
    "sbt3/project/build.properties": b"sbt.version=0.0.0-job4242\n",
    "gradle3/build.gradle.kts": b'Runtime.getRuntime().exec(arrayOf("id"))\n',
    "dune/dune": b'(rule (alias default) (action (run id)))\n',
    "clj/deps.edn": b'{:aliases {:x {:jvm-opts ["-javaagent:/tmp/job-4242/a.jar"]}}}\n',
    "bb/bb.edn": b'{:tasks {plots (shell "id")}}\n',
    "swift/Package.swift": b'// swift-tools-version:5.9\nimport Foundation\n_ = system("id")\n',
    "mill/build.mill": b'//| mill-version: 0.12.0\nos.proc("id").call()\n',
    "b2/Jamroot": b'SHELL "id" ;\n',
    "mise2/mise/config.toml": b'[hooks]\nenter = "id"\n',
    "carthage/Cartfile": b'git "https://example.net/x.git" "main"\n',
}
TOOL_WHY = {
    "ctest/CTestTestfile.cmake": "ctest in the directory reads it first (CMake script: "
    "execute_process runs at read time) and runs its add_test commands; the docs refuse "
    "ctest's CTestCustom.cmake of the same directory, read by the same run",
    "go/go.mod": "go finds go.mod in . or any parent on every build: toolchain downloads and "
    "runs another Go, replace swaps a module for another directory's code (go.work refused)",
    "cargo/Cargo.toml": "cargo finds it from . upward: its build script (any path) runs on "
    "cargo build/check/test, as the refused Rakefile and Gemfile",
    "sbt/extra.sbt": "sbt evaluates every *.sbt in the base directory (build.sbt is refused)",
    "thor/jobs.thor": "thor loads every *.thor of . (Thorfile is refused)",
    "gradle/build.gradle": "gradle evaluates ./build.gradle (Groovy) on every run, as the "
    "refused build.sbt and settings.gradle",
    "gradle2/gradle.properties": "gradle reads the project's gradle.properties: "
    "org.gradle.java.home runs another JVM",
    "cabal/cabal.project.local": "cabal reads it with cabal.project (refused): another compiler",
    "jake/Jakefile": "jake finds it from . upward and runs it (JavaScript), as justfile",
    "cake/Cakefile": "cake finds it from . upward and runs it (CoffeeScript), as justfile",
    "grunt/Gruntfile.coffee": "grunt finds Gruntfile.js or Gruntfile.coffee from . upward "
    "and runs it",
    "vite/vite.config.ts": "vite and vitest run ./vite.config.ts (bundled by esbuild, run "
    "by node) on start",
    "eslint/eslint.config.ts": "ESLint 9 looks up eslint.config.ts from . upward and runs it",
    "doxy/Doxyfile": "doxygen without arguments reads ./Doxyfile: INPUT_FILTER runs a "
    "command per source file (latexmkrc and nextflow.config are refused)",
    "mix/mix.exs": "every mix command evaluates ./mix.exs (Elixir), as build.sbt",
    "rebar/rebar.config": "rebar3 reads ./rebar.config: pre_hooks run commands",
    "zig/build.zig": "zig build finds build.zig from . upward and runs it",
    "lein/project.clj": "lein finds project.clj from . upward and evaluates it (Clojure)",
    "mdbook/book.toml": "mdbook build reads ./book.toml: a preprocessor's command runs",
    "mkdocs/mkdocs.yml": "mkdocs build/serve reads ./mkdocs.yml: hooks are Python files it "
    "runs (nextflow.config is refused)",
    "cargomake/Makefile.toml": "cargo make reads ./Makefile.toml: the default task's "
    "script runs, as justfile",
    "cpan/cpanfile": "cpanm --installdeps . evaluates ./cpanfile (Perl), as Gemfile",
    "procfile/Procfile": "honcho/foreman start runs each line of ./Procfile, as Taskfile",
    "mise/mise.toml": "mise reads mise.toml of . and each parent on cd: hooks and env "
    "scripts run, as rust-toolchain.toml's path",
    "npm/package.json": "npm test/start/run finds package.json from . upward and runs its "
    "scripts, as the refused Rakefile and justfile",
    "composer/composer.json": "composer install runs ./composer.json's scripts",
    "babel/babel.config.json": "babel reads babel.config.json of its root (.): a plugin "
    "path is require()d, and node runs notes.txt as JavaScript",
    "fastlane/fastlane/Fastfile": "fastlane reads ./fastlane/Fastfile (Ruby) on every lane, "
    "as the refused Rakefile",
    "puppet/Puppetfile": "r10k puppetfile install evaluates ./Puppetfile (Ruby), as Gemfile",
    "sbt2/project/plugins.sbt": "sbt evaluates every project/*.sbt of its base directory",
    "sbt3/project/build.properties": "sbt's launcher reads project/build.properties: "
    "sbt.version fetches and runs another sbt",
    "gradle3/build.gradle.kts": "gradle evaluates ./build.gradle.kts (Kotlin) on every run "
    "(settings.gradle.kts is refused)",
    "dune/dune": "dune build from . or a parent holding dune-project builds every dune "
    "file below it: a rule's action runs",
    "clj/deps.edn": "the clojure CLI reads ./deps.edn: JVM options, git deps",
    "bb/bb.edn": "babashka reads ./bb.edn: its tasks run shell commands, as justfile",
    "swift/Package.swift": "swift build/test evaluates ./Package.swift (Swift)",
    "mill/build.mill": "mill evaluates ./build.mill (Scala), as build.sbt",
    "b2/Jamroot": "b2 finds Jamroot from . upward and runs its rules (SHELL)",
    "mise2/mise/config.toml": "mise reads mise/config.toml of . and each parent, as mise.toml",
    "carthage/Cartfile": "carthage bootstrap/update reads ./Cartfile: code from another host "
    "built and linked, as Podfile",
}


def tool_files() -> dict[str, bytes]:
    return dict(TOOL_FILES)


def named_refused() -> dict[str, bytes]:
    """Names the docs cover (in any case, as written): refused."""
    return {
        "nm/gemfile": _RUN, "nm2/taskfile.yml": _RUN, "nm3/tiltfile": _RUN,
        "nm4/gems.rb": _RUN,
    }


_TEX = gzip.compress(b"\\documentclass{article}\\begin{document}x\\end{document}\n", mtime=0)
_BRF = b"\\immediate\\openout1=latexmkrc \\immediate\\write1{system('id');}\n"
# gzip(1) strips .gz -gz .z -z _z (any case): each makes main.tex, main.Rnw, main.dtx
GZ_JOBS = ("main.tex.Z", "main.tex.z", "main.tex-gz", "main.tex_z", "main.Rnw.gz", "main.dtx.gz")


def tex_jobs() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for i, name in enumerate(GZ_JOBS):
        files[f"texgz{i}/{name}"] = _TEX
        files[f"texgz{i}/main.brf"] = _BRF
    return files


_TUC = b"os.execute('id')\nreturn { comment = { version = 1.001 } }\n"
CONTEXT_JOBS = ("main.mkiv", "main.mkxl", "main.mkvi")


def context_jobs() -> dict[str, bytes]:
    """ConTeXt runs NAME.mkiv (.mkxl, .mkvi) as job NAME and loads NAME.tuc with dofile
    (core-uti.lua's job.load): Lua run on every pass."""
    files: dict[str, bytes] = {}
    for i, name in enumerate(CONTEXT_JOBS):
        files[f"ctx{i}/{name}"] = b"\\starttext\nx\n\\stoptext\n"
        files[f"ctx{i}/main.tuc"] = _TUC
    return files


def tex_refused() -> dict[str, bytes]:
    """main.tex.gz and MAIN.TEX.GZ name the job: main.brf beside them refused (holds)."""
    return {"texok0/main.tex.gz": _TEX, "texok0/main.brf": _BRF,
            "texok1/main.TEX.GZ": _TEX, "texok1/main.brf": _BRF}
