"""vmguard on a host: the systemd units and the logrotate snippet shipped in the
package (files/), and `vmguard system install`, which puts them in place."""
