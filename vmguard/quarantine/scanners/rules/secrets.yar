/*
  vmguard's shipped YARA rules: credentials a lab must never publish from a quarantine.
  Each rule has a file it must catch and a near miss it must not (tests/quarantine/
  test_yara.py). Rules look for the structure of a secret, not for words about one: a
  public key, a certificate alone, a passwd line without a hash or an example key ID
  in documentation are not secrets. Text strings are matched in UTF-16 too (`wide`: the
  lab's text type admits UTF-16 logs). Armored keys are also caught encoded whole in base64
  (and the yara engine decodes a file that is base64 as a whole and runs every rule on it),
  and the yara engine scans what a gzip or tar holds too (scanners/unpack.py). Site rules
  are added with scanners.yara.rules.
*/

rule ssh_private_key
{
    meta:
        description = "OpenSSH, SSH2 (RFC 4716 style) or PuTTY private key"
    strings:
        $openssh = "-----BEGIN OPENSSH PRIVATE KEY-----" ascii wide
        $ssh2 = "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----" ascii wide
        $putty = /PuTTY-User-Key-File-[0-9]+: / ascii wide
        $binary = { 6F 70 65 6E 73 73 68 2D 6B 65 79 2D 76 31 00 }  // "openssh-key-v1\0"
        $openssh_b64 = "-----BEGIN OPENSSH PRIVATE KEY-----" base64  // a whole key file in base64
    condition:
        $openssh or $ssh2 or ($putty and filesize < 64KB) or $binary at 0 or $openssh_b64
}

rule pem_private_key
{
    meta:
        description = "PEM private key: PKCS#1 RSA, DSA, EC, PKCS#8 (also encrypted)"
    strings:
        $key = /-----BEGIN (RSA |DSA |EC |ENCRYPTED |ANY )?PRIVATE KEY-----/ ascii wide
        // the same in base64 (a key file encoded whole: Kubernetes secrets, CI variables)
        $b64_pkcs8 = "-----BEGIN PRIVATE KEY-----" base64
        $b64_rsa = "-----BEGIN RSA PRIVATE KEY-----" base64
        $b64_ec = "-----BEGIN EC PRIVATE KEY-----" base64
        $b64_dsa = "-----BEGIN DSA PRIVATE KEY-----" base64
        $b64_encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----" base64
    condition:
        any of them
}

rule pgp_private_key
{
    meta:
        description = "OpenPGP secret key: armored block, binary secret-key packet, GnuPG key file"
    strings:
        $armored = "-----BEGIN PGP PRIVATE KEY BLOCK-----" ascii wide
        $armored_b64 = "-----BEGIN PGP PRIVATE KEY BLOCK-----" base64
        $gpg_agent = /\((11:private-key|21:protected-private-key|21:shadowed-private-key)/ ascii wide
        $gpg_extended = /(^|\n)Key: \((private-key|protected-private-key) / ascii wide
    condition:
        $armored or $armored_b64 or $gpg_agent in (0..3) or $gpg_extended  // 0..3: after a UTF-16 BOM
        // binary secret-key packet (tag 5), old format with a 2-byte length or new
        // format, then key version 4 or 5 and a 4-byte creation time
        or (uint8(0) == 0x95 and uint8(3) >= 4 and uint8(3) <= 5 and uint16be(1) + 3 <= filesize
            and uint8(8) >= 1 and uint8(8) <= 22)
        or (uint8(0) == 0xC5 and uint8(1) < 192 and uint8(2) >= 4 and uint8(2) <= 5
            and uint8(7) >= 1 and uint8(7) <= 22)
}

rule kerberos_keytab
{
    meta:
        description = "MIT/Heimdal keytab (version 0x0502 or 0x0501) with a well-formed first entry"
    condition:
        filesize >= 20 and (uint16be(0) == 0x0502 or uint16be(0) == 0x0501)
        and int32be(2) >= 12 and int32be(2) <= filesize - 6       // first entry's length
        and uint16be(6) >= 1 and uint16be(6) <= 16                  // principal components
        and uint16be(8) >= 1 and uint16be(8) <= 255                 // realm length
        and uint16be(8) + 10 < filesize
        and for all i in (10 .. 9 + uint16be(8)) : (uint8(i) >= 0x21 and uint8(i) <= 0x7E)
}

rule kerberos_ccache
{
    meta:
        description = "Kerberos FILE credential cache (version 0x0503 or 0x0504)"
    condition:
        filesize >= 24 and (
            // v4: header length, header tags, then the default principal
            (uint16be(0) == 0x0504 and uint16be(2) <= 64 and uint16be(2) % 4 == 0
             and int32be(4 + uint16be(2)) >= 0 and int32be(4 + uint16be(2)) <= 10
             and int32be(8 + uint16be(2)) >= 1 and int32be(8 + uint16be(2)) <= 16
             and int32be(12 + uint16be(2)) >= 1 and int32be(12 + uint16be(2)) <= 255
             and uint8(16 + uint16be(2)) >= 0x21 and uint8(16 + uint16be(2)) <= 0x7E)
            or
            // v3: the default principal right after the version
            (uint16be(0) == 0x0503
             and int32be(2) >= 0 and int32be(2) <= 10
             and int32be(6) >= 1 and int32be(6) <= 16
             and int32be(10) >= 1 and int32be(10) <= 255
             and uint8(14) >= 0x21 and uint8(14) <= 0x7E)
        )
}

rule shadow_password_hash
{
    meta:
        description = "/etc/shadow-style line (or a passwd line) carrying a password hash"
    strings:
        // name:$id$[params$]salt$hash:lastchange: (crypt(5) formats; DES: shadow_des_hash)
        $modular = /[a-z_][a-z0-9_.-]{0,31}\$?:\$(1|2[abxy]|5|6|7|y|gy|sha1|md5)\$[.\/0-9A-Za-z$=,]{8,}:[0-9]{0,6}:/ ascii wide
    condition:
        $modular
}

rule x509_proxy
{
    meta:
        description = "X.509 (grid) proxy or credential: a certificate together with its private key"
    strings:
        $cert = "-----BEGIN CERTIFICATE-----" ascii wide
        $key = /-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/ ascii wide
    condition:
        $cert and $key
}

rule aws_credentials
{
    meta:
        description = "AWS access key ID together with its secret access key"
    strings:
        $id = /(AKIA|ASIA|AROA|AIDA)[A-Z2-7]{16}/ ascii wide
        $secret = /(aws_secret_access_key|AWS_SECRET_ACCESS_KEY|SecretAccessKey|secret_key)["']?\s*[=:]\s*["']?[A-Za-z0-9\/+]{40}/ ascii wide
    condition:
        $id and $secret
}

rule gcp_service_account_key
{
    meta:
        description = "Google Cloud service account key file (JSON with its private key)"
    strings:
        $type = /"type"\s*:\s*"service_account"/ ascii wide
        $key = /"private_key"\s*:\s*"-----BEGIN PRIVATE KEY-----/ ascii wide
    condition:
        $type and $key
}

rule azure_storage_key
{
    meta:
        description = "Azure storage connection string with its account key"
    strings:
        $key = /AccountKey=[A-Za-z0-9+\/]{86}==/ ascii wide
    condition:
        $key
}

rule bearer_token
{
    meta:
        description = "Signed JSON Web Token (WLCG/SciToken, OIDC access or refresh token)"
    strings:
        $jwt = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{32,}/ ascii wide
    condition:
        $jwt
}

rule netrc_password
{
    meta:
        description = ".netrc entry with a password"
    strings:
        $entry = /machine\s+\S+\s+(login\s+\S+\s+)?password\s+\S+/ ascii wide
    condition:
        $entry
}

rule htpasswd_hash
{
    meta:
        description = "Apache htpasswd line: user and password hash"
    strings:
        $line = /(^|\n)[^:\s#]{1,64}:(\$apr1\$[.\/0-9A-Za-z]{1,8}\$[.\/0-9A-Za-z]{22}|\{SHA\}[A-Za-z0-9+\/]{27}=|\$2[aby]\$[0-9]{2}\$[.\/0-9A-Za-z]{53})(\r?\n|$)/ ascii
        $line_wide = /[^:\s#]{1,64}:(\$apr1\$[.\/0-9A-Za-z]{1,8}\$[.\/0-9A-Za-z]{22}|\{SHA\}[A-Za-z0-9+\/]{27}=|\$2[aby]\$[0-9]{2}\$[.\/0-9A-Za-z]{53})/ wide  // UTF-16: no ^ after a BOM, no $ in big-endian
    condition:
        $line or $line_wide
}

rule mysql_option_file_password
{
    meta:
        description = "MySQL/MariaDB option file (.my.cnf) with a client password"
    strings:
        $section = /(^|\n)\[(client|mysql|mysqldump|mysqladmin)\]/ ascii
        $section_wide = /\[(client|mysql|mysqldump|mysqladmin)\]/ wide
        $password = /\npassword\s*=\s*\S+/ ascii wide
    condition:
        ($section or $section_wide) and $password
}

rule ssh_private_key_body
{
    meta:
        description = "OpenSSH private key body without its BEGIN/END lines (base64 of 'openssh-key-v1')"
    strings:
        $body = "openssh-key-v1" base64 base64wide
    condition:
        $body and not ssh_private_key  // an armoured key is named once
}

rule kerberos_keytab_embedded
{
    meta:
        description = "MIT keytab (0x0502) anywhere in a file (FITS/HDF5 data): entry size, component count, uppercase realm"
    strings:
        // version, entry size < 64 KiB, 1..16 components, realm length 2..255
        $kt = { 05 02 00 00 ?? ?? 00 ( 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 | 09 | 0A | 0B | 0C | 0D | 0E | 0F | 10 ) 00 }
    condition:
        not kerberos_keytab and for any i in (1 .. #kt) : (  // a keytab at 0 is named once
            uint16be(@kt[i] + 4) >= 16 and uint16be(@kt[i] + 8) >= 2
            and uint16be(@kt[i] + 8) + 6 < uint16be(@kt[i] + 4)
            and for all j in (@kt[i] + 10 .. @kt[i] + 9 + uint16be(@kt[i] + 8)) :
                ((uint8(j) >= 0x41 and uint8(j) <= 0x5A) or (uint8(j) >= 0x30 and uint8(j) <= 0x39)
                 or uint8(j) == 0x2E or uint8(j) == 0x2D)
        )
}

rule kerberos_ccache_embedded
{
    meta:
        description = "Kerberos v4 credential cache (0x0504) anywhere in a file: header, default principal, uppercase realm"
    strings:
        // header of length 0 or 12 (the KDC time offset tag), name type <= 10, 1..16 components, realm length
        $cc0 = { 05 04 00 00 00 00 00 ( 00 | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 | 09 | 0A ) 00 00 00 ( 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 | 09 | 0A | 0B | 0C | 0D | 0E | 0F | 10 ) 00 00 00 }
        $cc12 = { 05 04 00 0C 00 01 00 08 [8] 00 00 00 ( 00 | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 | 09 | 0A ) 00 00 00 ( 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 | 09 | 0A | 0B | 0C | 0D | 0E | 0F | 10 ) 00 00 00 }
    condition:
        not kerberos_ccache and  // a cache at 0 is named once
        for any i in (1 .. #cc0) : (uint8(@cc0[i] + 15) >= 2
            and for all j in (@cc0[i] + 16 .. @cc0[i] + 15 + uint8(@cc0[i] + 15)) :
                ((uint8(j) >= 0x41 and uint8(j) <= 0x5A) or (uint8(j) >= 0x30 and uint8(j) <= 0x39)
                 or uint8(j) == 0x2E or uint8(j) == 0x2D))
        or not kerberos_ccache and for any i in (1 .. #cc12) : (uint8(@cc12[i] + 27) >= 2
            and for all j in (@cc12[i] + 28 .. @cc12[i] + 27 + uint8(@cc12[i] + 27)) :
                ((uint8(j) >= 0x41 and uint8(j) <= 0x5A) or (uint8(j) >= 0x30 and uint8(j) <= 0x39)
                 or uint8(j) == 0x2E or uint8(j) == 0x2D))
}

rule shadow_des_hash
{
    meta:
        description = "/etc/shadow line with a traditional DES crypt hash (13 chars of [./0-9A-Za-z]) and its 7 numeric fields"
    strings:
        $des = /(^|\n)[a-z_][a-z0-9_.-]{0,31}:[.\/0-9A-Za-z]{13}:[0-9]{0,6}:[0-9]{0,6}:[0-9]{0,6}:[0-9]{0,6}:[0-9]{0,6}:[0-9]{0,6}:/ ascii
        $des_wide = /[a-z_][a-z0-9_.-]{0,31}:[.\/0-9A-Za-z]{13}:[0-9]{0,6}:[0-9]{0,6}:[0-9]{0,6}:[0-9]{0,6}:[0-9]{0,6}:[0-9]{0,6}:/ wide
    condition:
        $des or $des_wide
}

rule aws_secret_access_key
{
    meta:
        description = "AWS secret access key named as such, even without its access key ID"
    strings:
        $secret = /(aws_secret_access_key|AWS_SECRET_ACCESS_KEY|SecretAccessKey)["']?\s*[=:]\s*["']?[A-Za-z0-9\/+]{40}([^A-Za-z0-9\/+]|$)/ ascii wide
    condition:
        $secret
}

rule gcp_api_key
{
    meta:
        description = "Google API key (AIza + 35 characters)"
    strings:
        $key = /AIza[0-9A-Za-z_-]{35}/ ascii wide
    condition:
        $key
}

rule gcp_authorized_user
{
    meta:
        description = "gcloud application_default_credentials.json: OAuth client secret with a refresh token"
    strings:
        $refresh = /"refresh_token"\s*:\s*"[^"\s]{8,}"/ ascii wide
        $secret = /"client_secret"\s*:\s*"[^"\s]{8,}"/ ascii wide
    condition:
        $refresh and $secret
}

rule azure_service_principal
{
    meta:
        description = "Azure service principal credentials (az ad sp create-for-rbac: appId, password, tenant)"
    strings:
        $app = /"appId"\s*:\s*"[0-9a-fA-F-]{36}"/ ascii wide
        $password = /"password"\s*:\s*"[^"\s]{8,}"/ ascii wide
        $tenant = /"tenant"\s*:\s*"[^"\s]{8,}"/ ascii wide
    condition:
        all of them
}

rule azure_sas_url
{
    meta:
        description = "Azure shared access signature URL (sv=... &sig=...)"
    strings:
        $sas = /[?&]sv=[0-9]{4}-[0-9]{2}-[0-9]{2}&[^\s"'<>]{0,400}&sig=[A-Za-z0-9%+\/=]{30,}/ ascii wide
    condition:
        $sas
}

rule http_bearer_token
{
    meta:
        description = "HTTP bearer token (Authorization: Bearer ...) or Google OAuth access token (ya29.)"
    strings:
        $header = /[Aa]uthorization["']?\s*[:=]\s*["']?Bearer\s+[A-Za-z0-9._~+\/-]{20,}/ ascii wide
        $google = /ya29\.[0-9A-Za-z_-]{30,}/ ascii wide
    condition:
        $header or $google
}

rule pgpass_line
{
    meta:
        description = "PostgreSQL .pgpass line: host:port:database:user:password"
    strings:
        $line = /(^|\n)[A-Za-z0-9.*_-]*[A-Za-z.*][A-Za-z0-9.*_-]*:([0-9]{1,5}|\*):[A-Za-z0-9_.*-]+:[A-Za-z0-9_.@*-]+:[^:\s][^:\r\n]*(\r?\n|$)/ ascii
        // UTF-16: no ^ after a BOM, no $ in big-endian; a database name with a letter instead
        // (a shadow line's numeric fields are not a pgpass line)
        $line_wide = /[A-Za-z0-9.*_-]*[A-Za-z.*][A-Za-z0-9.*_-]*:([0-9]{1,5}|\*):[A-Za-z0-9_.-]*[A-Za-z_*][A-Za-z0-9_.*-]*:[A-Za-z0-9_.@*-]+:[^:\s]+/ wide
    condition:
        $line or $line_wide
}

rule git_credentials
{
    meta:
        description = "~/.git-credentials line: URL with user:password@"
    strings:
        $url = /https?:\/\/[^:\s\/@"']+:[^@\s\/"']{4,}@[A-Za-z0-9.-]+/ ascii wide
    condition:
        $url
}
