"""The extensions a client acts on by a file's NAME, whatever its bytes (served.py asks):
Windows and Office (WINDOWS_ACTIVE), other desktops (DESKTOP_ACTIVE), a server or
interpreter wherever the extension is in the name (SERVER_ACTIVE), a desktop or Python by
the last extension only (LAST_ACTIVE), and an analysis tool that loads a routine by its
file name from the directory it starts in (TOOL_LOADED). Each table says where it comes
from; names a tool reads by their whole name (a directory's configuration, TikZ's
libraries) are dirconfig.py's."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Windows runs (or hands to an interpreter or an installer) a file with these extensions
# on a double click: PATHEXT; every extension of Microsoft's "Blocked attachments in
# Outlook" (Outlook refuses to open them: they run code); and what else Windows or Office
# acts on whatever the bytes: disk images it mounts, app packages it installs, Remote
# Desktop files (mstsc connects out, drives redirected), search and library descriptions
# (Explorer fetches a remote location: NTLM), theme and troubleshooter packs, OneNote,
# macro-enabled Office documents (and Excel 4 macro sheets .xlm, add-ins .xla, binary
# workbooks .xlsb), Excel's web queries .iqy and SYLK .slk (DDE formulas run on open),
# Citrix .ica (a session launched), Office add-in installers .vsto. Outlook's list adds
# .pssc .udl .cdxml (PowerShell session configuration, data link, cmdlet definition).
# Excel opens its other query files as it does .iqy and runs the query against the
# source they name: .dqy (ODBC), .rqy and .oqy (OLAP). Packages a client installs or runs:
# Silverlight's .xap (the plug-in runs it; IIS serves it as application/x-silverlight-app,
# which Debian's mime.types does not list), InfoPath's .xsn form templates (their code
# runs), OneNote's table of contents .onetoc .onetoc2 (as .one), RemoteApp's .wcx (it
# subscribes the user to remote programs) and visual styles .msstyles (a DLL a .theme loads);
# Access databases and add-ins .accdb .accda (AutoExec, VBA on load, as .mdb .mda), the
# certificate import wizard's .pfx .p12 .p7b .sst (a root to trust, as .cer .crt), VSIX
# extensions .vsix (VSIXInstaller). ArcGIS Pro and ArcMap import a Python toolbox .pyt when
# its folder is browsed (session 39, attack o text).
WINDOWS_ACTIVE = _words(
    """
    ade adp app application appref-ms asp aspx asx bas bat bgi cab cer chm cmd cnt com cpl crt csh
    der diagcab exe fxp gadget grp hlp hpj hta htc inf ins iso isp its jar jnlp js jse ksh lnk mad
    maf mag mam maq mar mas mat mau mav maw mcf mda mdb mde mdt mdw mdz msc msh msh1 msh2 mshxml
    msh1xml msh2xml msi msp mst msu ops osd pcd pif pl plg prf prg printerexport ps1 ps1xml ps2
    ps2xml psc1 psc2 psd1 psdm1 pst py pyc pyo pyw pyz pyzw reg scf scr sct shb shs theme tmp url
    vb vbe vbp vbs vhd vhdx vsmacros vsw webpnp website ws wsb wsc wsf wsh xbap xll xnk
    btm psm1 accde library-ms settingcontent-ms searchconnector-ms search-ms appcontent-ms
    themepack deskthemepack diagcfg diagpkg img appx appxbundle msix msixbundle appinstaller rdp
    one onepkg docm dotm xlsm xltm xlam pptm potm ppam ppsm sldm
    pssc udl cdxml xla xlm xlsb iqy slk ica vsto dqy rqy oqy xap xsn onetoc onetoc2 wcx msstyles
    accdb accda pfx p12 p7b sst vsix pyt
    """
)
# Another desktop acts on a file of these extensions when it is opened, whatever its
# bytes: macOS Finder opens .terminal in Terminal, which runs its CommandString, and runs
# .command and .tool as shell scripts there (with the x bit an unzip keeps); its location
# files open what they name, as .url does (.fileloc a local application, .webloc
# .inetloc .ftploc .afploc .mailloc .newsloc a URL, a server mounted); Linux desktops run
# a .desktop file's Exec line (KDE's older .kdelnk too), GNOME after "Allow launching",
# KDE and Xfce after a prompt; Terminal's older .term as .terminal; one-click installers
# (.flatpakref .flatpakrepo: GNOME Software, KDE Discover; openSUSE's .ymp: YaST), as
# .appinstaller. Finder opens a web archive (.webarchive, Apple's MHTML: a property list
# whose WebMainResource is the page) in Safari, which renders it, as Edge does .mht.
DESKTOP_ACTIVE = _words(
    "terminal term command tool fileloc webloc inetloc ftploc afploc mailloc newsloc desktop kdelnk "
    "flatpakref flatpakrepo ymp webarchive"
)
# A server runs a file with these extensions, wherever they are in its name (Apache's
# AddHandler and SetHandler, IIS handler mappings, CGI), instead of sending it: PHP, ASP
# and ASP.NET (.cer is an ASP handler on IIS), JSP, ColdFusion, CGI and its scripting
# languages, Java web archives a servlet container deploys; and an interpreter loads a
# module from the directory it runs in by its name: Python (.py, compiled, extension,
# .pth: numpy.py beside the data runs on `import numpy`). Apache's type maps (Debian's
# mime.conf: AddHandler type-map var):
# a .var's Body is sent with the type the map names, text/html too. .NET's root
# web.config maps .xoml and .rules (workflows, compiled and run) with .svc and .xamlx,
# .rem and .soap to the remoting handler. Python's servers: mod_wsgi's documented
# `AddHandler wsgi-script .wsgi`, twistd web's .rpy (ResourceScript) and .epy
# (PythonScript), mod_python's .psp; Apache Rivet's .rvt (Tcl); an ISAPI .dll (IIS with
# execute permission, Apache's mod_isapi); IIS's old asp.dll map .cdx (beside .asa .cer) and
# httpodbc.dll's .idc, Apache Axis's .jws, mod_ruby's .rbx, Embperl's .epl; Apache's
# server-side includes (`AddOutputFilter INCLUDES .shtml`: a filter, like a handler, by any
# extension; `<!--#exec cmd=` runs a command where Options allow it). IIS 4-6's other
# default script maps: .htr (ism.dll) and .idq (idq.dll, Indexing Service queries).
SERVER_ACTIVE = _words(
    "php php2 php3 php4 php5 php6 php7 php8 phps pht phtm phtml phar var "
    "asp aspx ascx ashx asmx asax asa axd cer cshtml vbhtml svc xamlx xoml rules rem soap "
    "jsp jspx jspf jsw jsv war ear cfm cfml cfc "
    "cgi fcgi pl pm plx py pyc pyo pyw pyz pyzw pth rb rbw rhtml erb "
    "lua tcl wsgi rpy epy psp rvt dll cdx idc htr idq jws rbx epl shtml"
)
# Acted on by the LAST extension only: a shell script runs on a server only as CGI (the x
# bit, which vet never publishes; lighttpd's cgi.assign matches the last extension) and no
# shell loads a file by name from its directory, but a desktop runs a name ending in one
# (Git for Windows associates .sh with git-bash); Python imports an extension module only
# from a name ending in .so or .pyd. So SGE's `run.sh.o4242` and `notes.so.txt` are data.
LAST_ACTIVE = _words("sh bash ksh zsh csh tcsh fish so pyd")
# Analysis tools load a routine from the directory they start in by its file name before
# their own (a file there shadows the installed one): MATLAB and Octave (plot.m there
# shadows plot; .mlx live scripts) and MATLAB's MEX files, IDL and
# GDL .pro, Stata's .ado programs, .class files and Mata's .mo and .mlib along the
# ado-path (`.` first). They look up `name.ext` exactly, so only the last extension
# counts (labels.class.csv is a CSV to all of them), unlike a server's handlers. Not
# MATLAB's p-code .p: binary, which no validator admits. TeX reads the working directory
# first too: a class, package, style, font or driver file there (article.cls, hyperref.sty,
# plain.bst, t1cmr.fd, size10.clo, a babel .ldf, pdftex.def) replaces the installed one
# (\write18 runs commands where shell escape is on).
# biblatex loads its styles and localisations (.bbx .cbx .lbx) and KOMA-Script's scrlttr2
# its letter options (.lco) the same way (TikZ and PGF a library by its whole name:
# dirconfig.CONFIG_PATTERNS, tikzlibrarycalc.code.tex); the kernel its
# .ltx modules (documentmetadata-support.ltx), inputenc its encodings' .dfu (t1enc.dfu), an
# engine its format (pdflatex.fmt: TEXFORMATS holds `.` first). A package's .cfg by name:
# dirconfig.py.
# ROOT 6 (system.rootrc: `Unix.*.Root.DynamicPath: .:$(ROOT_DYN_PATH):`) reads every
# *.rootmap of each dynamic-path directory, `.` first, when root starts
# (TCling::LoadLibraryMap): its `{ decls }` lines are declared to cling, and a global's
# initializer runs (session 38, attack n names).
TOOL_LOADED = _words(
    "m mlx mexa64 mexmaci64 mexmaca64 mexw64 mexw32 mexglx pro ado class mo mlib cls sty bst fd clo ldf def "
    "bbx cbx lbx lco ltx dfu fmt rootmap"
)
