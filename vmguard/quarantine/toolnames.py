"""Build, task and package tools' files: the names a tool reads by that name from the
directory it runs in (most also from its parents), whose content runs code or sends the
tool elsewhere (another host, toolchain, directory or path it writes): one frozen table,
grouped by tool family, each family with its reason (name-config, dirconfig.config_why).

The source is systematic, not one attack at a time (session 40, names3): GitHub
linguist's `filenames` of every programming language (and of the data and configuration
languages whose files a tool runs things from), as the npm package linguist-languages
9.5.0 (MIT licence) ships them; tools/linguist_filenames.py prints them from its
languages.json, LINGUIST below is its output. Each is here or in EXCLUDED with the reason
it is published; dot names (`.irbrc`, `.envrc`) are names.DOT's. Beside them, the names
the same tools' documentation says they find in `.` that linguist files by extension
(`go.mod`, `Cargo.toml`, `package.json`, `build.zig`, `mix.exs` ...) and PATTERNS, the
extension families a tool loads whole from `.` (sbt's `*.sbt`, thor's `*.thor`) or by a
prefix with any extension (`vite.config.*`: .js .mjs .cjs .ts .mts .cts and more). Names
lower case; compared as dirconfig compares (any case, Windows' forms, 8.3 aliases).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Family:
    """Tools that read the names (and PATTERNS' (prefix, suffix) names) from `.`: why."""

    why: str
    names: tuple[str, ...] = ()
    patterns: tuple[tuple[str, str], ...] = ()


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _f(why: str, names: str = "", patterns: tuple[tuple[str, str], ...] = ()) -> Family:
    return Family(why, _words(names), patterns)


_JS_CONFIG = (
    "vite.config. vitest.config. vitest.workspace. eslint.config. babel.config. gruntfile. gulpfile. "
    "webpack.config. rollup.config. postcss.config. tailwind.config. svelte.config. next.config. "
    "nuxt.config. astro.config. jest.config. playwright.config. prettier.config. stylelint.config. "
    "commitlint.config. karma.conf. vue.config. docusaurus.config. rspack.config. jakefile. "
    "knexfile. ecosystem.config."
)
FAMILIES: tuple[Family, ...] = (
    _f("make and its kin read their file from `.` unasked and run its recipes (as the refused "
       "GNUmakefile): BSD make's BSDmakefile and the ../Makefile.inc bsd.*.mk include, Plan 9 "
       "mk's mkfile, the kernel's Kbuild, Watcom, VMS MMS, Modula-3's m3makefile and "
       "m3overrides (another directory's packages), Erlang's Emakefile",
       "bsdmakefile makefile.inc mkfile kbuild descrip.mmk descrip.mms m3makefile m3overrides emakefile"),
    _f("autotools (autoreconf, automake without arguments) read configure.ac and Makefile.am "
       "of `.`: m4 that writes the shell script configure runs; Perl's installers "
       "(cpanm, `perl Makefile.PL`) run Makefile.PL and Build.PL",
       "configure.ac configure.in makefile.am makefile.pl build.pl"),
    _f("ctest reads the build directory's CTestTestfile.cmake (CMake script, execute_process "
       "runs as it is read) and every CTest*.cmake it includes, as CTestCustom.cmake; "
       "`cmake --preset` and IDEs (CMake Tools) read the presets: a toolchain file is "
       "CMake script", "cmakepresets.json cmakeuserpresets.json", (("ctest", ".cmake"),)),
    _f("meson, waf, SCons's kin, xmake, premake, b2 (Jamroot, found from `.` upward), Bazel's "
       "and Buck's build files, Earthly: build files of `.` that are code "
       "(Python, Lua, Starlark, Jam) run on every build",
       "meson.build meson_options.txt meson.options wscript xmake.lua premake5.lua premake4.lua "
       "jamroot jamfile jamroot.jam jamfile.jam project-root.jam boost-build.jam buck build.bazel "
       "workspace.bazel workspace.bzlmod earthfile"),
    _f("C and C++ package managers read their manifest of `.` unasked: conan (conanfile.txt's "
       "generators and a conanfile.py beside it), vcpkg's manifest mode (overlay ports: "
       "another directory's build scripts), Alpine's abuild and Arch's makepkg source "
       "APKBUILD and PKGBUILD (shell)",
       "conanfile.txt vcpkg.json vcpkg-configuration.json apkbuild pkgbuild"),
    _f("go finds go.mod from `.` upward on every build: `toolchain` downloads and runs another "
       "Go, `replace` swaps a module for another directory's code (as the refused go.work)",
       "go.mod"),
    _f("cargo finds Cargo.toml from `.` upward: its build script (any path) runs on every "
       "build, check and test; cross's Cross.toml (pre-build commands), cargo-make's "
       "Makefile.toml and Trunk.toml's hooks run commands",
       "cargo.toml cross.toml makefile.toml trunk.toml"),
    _f("gradle evaluates build.gradle(.kts) of `.` (Groovy, Kotlin; a build applies any "
       "*.gradle by path), gradle.properties (org.gradle.java.home runs another JVM), the "
       "wrapper's properties (distributionUrl: another Gradle fetched and run), and IDEs run "
       "the project's gradlew and mvnw by that name; maven reads pom.xml (plugins run), ant "
       "build.xml (<exec>)",
       "build.gradle build.gradle.kts gradle.properties gradle-wrapper.properties gradlew "
       "gradlew.bat mvnw mvnw.cmd maven-wrapper.properties pom.xml build.xml",
       (("", ".gradle"), ("", ".gradle.kts"))),
    _f("sbt evaluates every *.sbt of its base directory (and of project/), mill build.mill "
       "and every package.mill (and the older build.sc), thor every *.thor of `.`: Scala and "
       "Ruby run on start", "build.mill build.sc", (("", ".sbt"), ("", ".mill"), ("", ".thor"))),
    _f("Clojure's tools read their project file of `.` (lein's project.clj from `.` upward, "
       "evaluated; the clojure CLI's deps.edn: JVM options, git deps; babashka's bb.edn "
       "tasks; shadow-cljs; boot's build.boot)",
       "project.clj deps.edn bb.edn shadow-cljs.edn build.boot"),
    _f("Haskell and OCaml: cabal reads cabal.project.local and cabal.config with "
       "cabal.project (another compiler, package sources); dune builds from the root "
       "holding dune-project every dune file below it (a rule's action runs); opam install . "
       "runs the build commands of ./opam and *.opam",
       "cabal.project.local cabal.config dune dune-project dune-workspace opam", (("", ".opam"),)),
    _f("Erlang and Elixir: every mix command evaluates ./mix.exs (mix.lock: git deps); "
       "rebar3 reads rebar.config (pre_hooks run commands) and its .script (Erlang)",
       "mix.exs mix.lock rebar.config rebar.config.script rebar.config.lock rebar.lock"),
    _f("zig build finds build.zig from `.` upward and runs it (build.zig.zon: packages from "
       "URLs); Nim reads nim.cfg and runs config.nims (NimScript) of the project, nimble "
       "*.nimble; dub dub.json/dub.sdl (preBuildCommands); shards shard.yml (postinstall); "
       "KCL kcl.mod (dependencies fetched)",
       "build.zig build.zig.zon nim.cfg config.nims dub.json dub.sdl shard.yml kcl.mod kcl.mod.lock",
       (("", ".nimble"),)),
    _f("swift build evaluates ./Package.swift (Swift); Carthage reads Cartfile, "
       "Cartfile.private and Cartfile.resolved (code from another host built and linked), "
       "Mint Mintfile, as the refused Podfile",
       "package.swift cartfile cartfile.private cartfile.resolved mintfile"),
    _f("Ruby tools that evaluate their file of `.` (as the refused Gemfile and Rakefile): "
       "appraisal, danger, fastlane (Fastfile, Appfile ..., also in ./fastlane/), steep, "
       "jbundler's Jarfile, ruby-maven's Mavenfile, buildr's and build2's buildfile, r10k's "
       "Puppetfile and the module tool's Modulefile, Rex's Rexfile and cpanm's cpanfile (Perl)",
       "appraisals dangerfile deliverfile fastfile appfile matchfile pluginfile snapfile "
       "steepfile jarfile mavenfile buildfile puppetfile modulefile rexfile cpanfile"),
    _f("the task runners of other languages that find their file from `.` upward and run it, "
       "as justfile: jake's Jakefile, cake's Cakefile (CoffeeScript), slake's Slakefile "
       "(LiveScript), fake's Fakefile (Fancy), nuke's Nukefile (Nu), phake's Phakefile (PHP), "
       "Procfile (honcho, foreman: each line a command)",
       "jakefile cakefile slakefile fakefile nukefile phakefile procfile"),
    _f("Node tools: npm, yarn, pnpm find package.json from `.` upward and run its scripts; "
       "tsc tsconfig.json and jsconfig.json (outDir: any path written), tslint tslint.json "
       "(rulesDirectory: code loaded), lerna, nx, turbo and angular run their tasks' "
       "commands and builders, nodemon nodemon.json's exec; and the configs a tool of the "
       "ecosystem require()s as code from `.` by a name with any extension (vite.config.*, "
       "eslint.config.*, babel.config.*, Gruntfile.*, Gulpfile.* ...)",
       "package.json tsconfig.json jsconfig.json tslint.json lerna.json nx.json turbo.json "
       "angular.json nodemon.json", tuple((p, "") for p in _JS_CONFIG.split())),
    _f("PHP: composer install runs composer.json's scripts; phpunit reads phpunit.xml(.dist) "
       "of `.` (its bootstrap: PHP it runs)", "composer.json phpunit.xml phpunit.xml.dist"),
    _f("documentation tools without arguments read their file of `.`: doxygen's Doxyfile "
       "(INPUT_FILTER runs a command per source), mkdocs.yml (hooks: Python it runs), "
       "mdbook's book.toml (a preprocessor's command)",
       "doxyfile mkdocs.yml mkdocs.yaml book.toml"),
    _f("containers and environments: `docker build .` and podman read Dockerfile or "
       "Containerfile (RUN commands, FROM another host), buildx bake docker-bake.hcl, caddy "
       "its Caddyfile (a server's routes, reverse proxies), devbox devbox.json (init_hook), "
       "devenv devenv.nix, buildozer buildozer.spec, mise mise.toml (and mise/config.toml) of "
       "`.` and each parent on cd (hooks and env scripts run), Jenkins a checkout's "
       "Jenkinsfile (Groovy)",
       "dockerfile containerfile docker-bake.hcl docker-bake.json caddyfile devbox.json devenv.nix "
       "devenv.yaml buildozer.spec mise.toml mise.local.toml jenkinsfile"),
    _f("godot without arguments opens the project of `.` or a parent by its project.godot and "
       "runs its autoload scripts (GDScript) and editor plugins", "project.godot"),
    # Session 40 (escnames; attack r text): data science's and deployment's tools.
    _f("environment and pipeline tools read their file of `.` unasked: `conda env create` "
       "and `conda env update` ./environment.yml (or .yaml; its pip: section installs git "
       "URLs, whose setup.py runs), `dvc repro` dvc.yaml (each stage's cmd runs), `mlflow "
       "run .` MLproject (its entry point command), `cdk synth` cdk.json (its app command), "
       "`pulumi up` Pulumi.yaml from `.` upward (the runtime's virtualenv and binary run), "
       "`skaffold dev` skaffold.yaml (a custom buildCommand), `pio run` platformio.ini "
       "(extra_scripts: Python)",
       "environment.yml environment.yaml dvc.yaml mlproject cdk.json pulumi.yaml skaffold.yaml "
       "platformio.ini"),
    # Session 40 (attack s text).
    _f("`serverless deploy` reads ./serverless.yml (or .yaml) and deploys what it names with "
       "the user's cloud credentials; Jekyll's `jekyll build` reads ./_config.yml (or .toml): "
       "its destination is a directory it empties of files it did not write, plugins_dir "
       "Ruby it loads", "serverless.yml serverless.yaml _config.yml _config.toml"),
    _f("R reads its project's files from `.` unasked: targets' tar_make() sources _targets.R, "
       "shiny's runApp() app.R (or ui.R, server.R and global.R), plumber's plumb() of `.` "
       "plumber.R or entrypoint.R, repo2docker (Binder) runs install.R as it runs the refused "
       "postBuild; renv::restore() installs ./renv.lock's packages (another repository, built "
       "from source: configure runs), remotes::install_deps() and devtools::install() of `.` "
       "read ./DESCRIPTION (Remotes: a tarball or git repository from another host)",
       "_targets.r app.r ui.r server.r global.r plumber.r entrypoint.r install.r renv.lock "
       "description"),
    _f("Julia: `julia --project` finds Project.toml (or JuliaProject.toml) from `.` upward, "
       "and Pkg.instantiate() installs Manifest.toml's (JuliaManifest.toml's, a versioned "
       "Manifest-v1.11.toml's) packages from their repo-url and runs each deps/build.jl; "
       "repo2docker instantiates a Project.toml of `.`",
       "project.toml juliaproject.toml manifest.toml juliamanifest.toml",
       (("manifest-v", ".toml"),)),
    _f("editors that evaluate a project file of the directory a visited file is in: Emacs's "
       "EDE Project.ede, Cask and Eask (Elisp), Vim with 'exrc' (_vimrc, _exrc, _gvimrc of `.`)",
       "project.ede cask eask _vimrc _exrc _gvimrc"),
)
# Entries a tool reads inside a directory of a name (folded directory -> entries' regular
# expression, why): names.sibling_reasons asks it with the directory's name.
WITHIN: dict[str, tuple[str, str]] = {
    "project": (r"[^/]+\.sbt|build\.properties", "sbt evaluates every project/*.sbt of its base "
                "directory, and its launcher reads project/build.properties (sbt.version fetches "
                "and runs another sbt)"),
    "fastlane": (r"(fast|app|match|plugin|deliver|snap|gym|scan)file", "fastlane reads "
                 "./fastlane/Fastfile and its kin (Ruby) on every lane, as the refused Rakefile"),
    "mise": (r"config(\.local)?\.toml", "mise reads mise/config.toml of `.` and each parent on "
             "cd, as mise.toml (hooks and env scripts run)"),
}
# linguist-languages 9.5.0's `filenames` of programming languages without a dot name
# (lower case; tools/linguist_filenames.py's output): each is in FAMILIES, refused by the
# rules before this table (dirconfig's lists, `.py`), or in EXCLUDED.
LINGUIST = _words("""
apkbuild gradlew.bat mvnw.cmd cmakelists.txt riemann.config cakefile containerfile dockerfile
dune-project earthfile mix.lock cask eask project.ede _emacs abbrev_defs emakefile rebar.config
rebar.config.lock rebar.lock fakefile jenkinsfile root jakefile justfile kcl.mod kcl.mod.lock kakrc
lexer.x ld.script slakefile configure.ac bsdmakefile gnumakefile kbuild makefile makefile.am
makefile.boot makefile.frag makefile.in makefile.inc makefile.pc makefile.wat makefile.sco mkfile
meson.build meson_options.txt descrip.mmk descrip.mms nextflow.config nim.cfg nukefile phakefile
makefile.pl rexfile ack cpanfile latexmkrc procfile modulefile deps sconscript sconstruct wscript
installscript.qs toolchain_installscript.qs m3makefile m3overrides expr-dist appraisals berksfile
brewfile buildfile capfile dangerfile deliverfile fastfile gemfile guardfile jarfile mavenfile
podfile puppetfile rakefile snapfile steepfile thorfile vagrantfile 9fs pkgbuild bash_aliases
bash_logout bash_profile bashrc cshrc gradlew kshrc login man mvnw profile tmux.conf xinitrc
xsession zlogin zlogout zprofile zshenv zshrc singularity snakefile buck build build.bazel
module.bazel tiltfile workspace workspace.bazel workspace.bzlmod owh starfield _vimrc gvimrc nvimrc
vimrc xmake.lua
""")
_HOME = ("read from the home directory (as a dot name, refused) or /etc, never from `.`; "
         "a job may write a file of this ordinary name")
_ASKED = ("a tool reads it only when the reader asks for that file, as Makefile (docs: files a "
          "tool runs only when asked to run that file are published)")
_SAMPLE = "the name of one of linguist's sample files: no tool reads it by this name"
# The linguist names published, and why: an honest physics job may write them and no tool
# reads them from `.` unasked.
EXCLUDED: dict[str, str] = {
    "makefile": _ASKED, "cmakelists.txt": _ASKED, "makefile.in": _ASKED + " (./configure)",
    "makefile.boot": _ASKED + " (included by a Makefile that names it)",
    "makefile.frag": _ASKED + " (included by a Makefile that names it)",
    "makefile.pc": _ASKED + " (included by a Makefile that names it)",
    "makefile.wat": _ASKED + " (wmake -f)", "makefile.sco": _ASKED + " (make -f)",
    "ld.script": _ASKED + " (ld -T)", "riemann.config": _ASKED + " (riemann's argument)",
    "lexer.x": _ASKED + " (alex, or a .cabal naming it)",
    "singularity": _ASKED + " (apptainer build takes the definition file as its argument)",
    "installscript.qs": _ASKED + " (the installer framework's package meta directory)",
    "toolchain_installscript.qs": _ASKED + " (the installer framework's package meta directory)",
    "root": "CERN ROOT's name (a job's ROOT directory); Isabelle reads ROOT only of the "
    "directories `isabelle build -d` is given",
    "build": "in any case `build`, every CMake job's build directory; Bazel reads BUILD only "
    "inside a workspace, whose MODULE.bazel and WORKSPACE.bazel are refused",
    "workspace": "a directory of that name is a lab's own (dirconfig.py); WORKSPACE.bazel and "
    "MODULE.bazel are refused",
    "man": "a directory of manual pages: man reads MANPATH, not `.`",
    "ack": "the ack program itself (Perl), run from PATH, not read from `.`",
    "9fs": "Plan 9's script in /rc/bin, run from the path, not read from `.`",
    "expr-dist": _SAMPLE, "owh": _SAMPLE, "starfield": _SAMPLE,
    "deps": "in any case `deps`, a project's directory of dependencies; gclient reads DEPS only "
    "in a checkout below its .gclient (a dot name, refused)",
    **dict.fromkeys(_words("bash_aliases bash_logout bash_profile bashrc cshrc kshrc login profile "
                           "zlogin zlogout zprofile zshenv zshrc xinitrc xsession tmux.conf _emacs "
                           "abbrev_defs kakrc gvimrc nvimrc vimrc"), _HOME),
}


@cache
def _reasons() -> dict[str, str]:
    """Each exact name -> its family's why, built once."""
    return {name: family.why for family in FAMILIES for name in family.names}


PATTERNS: tuple[tuple[str, str, str], ...] = tuple(
    (p, s, family.why) for family in FAMILIES for p, s in family.patterns
)
# one startswith and one endswith first: most names match no pattern
_PREFIXES = tuple({p for p, _, _ in PATTERNS if p})
_SUFFIXES = tuple({s for _, s, _ in PATTERNS if s})


def names() -> frozenset[str]:
    """Every exact name of the table (lower case)."""
    return frozenset(_reasons())


def why(low: str) -> str | None:
    """Why a tool reads a file of this lower-case name from `.`, or None."""
    found = _reasons().get(low)
    if found is not None or not (low.startswith(_PREFIXES) or low.endswith(_SUFFIXES)):
        return found
    return next((w for p, s, w in PATTERNS if len(low) > len(p) + len(s) and low.startswith(p)
                 and low.endswith(s)), None)
