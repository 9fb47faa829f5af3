# Turns the key table of docs/configuration.md (the output of
# `anysteerd --help-config`, which tests/unit/test_agent_config keeps
# equal to it) into the scdoc text of anysteer.yaml(5)'s KEYS section,
# and copies every other line of the template given after the table.
# Usage: awk -f config-keys.awk docs/configuration.md anysteer.yaml.5.scd.in
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
function unquote(s) { gsub(/`/, "", s); return s }
# scdoc reads * and _ as bold and underline.
function esc(s) { gsub(/\\/, "\\\\", s); gsub(/\*/, "\\*", s); gsub(/_/, "\\_", s); return s }
FNR == 1 { file++ }
file == 1 && /^\| Key +\| Type +\| Default +\| Description +\|$/ { intable = 1; next }
file == 1 && intable && /^\|-/ { next }
file == 1 && intable && /^\|/ {
	n = split($0, f, "|")
	if (n != 6) { print "config-keys.awk: bad row: " $0 > "/dev/stderr"; bad = 1; exit 1 }
	key = unquote(trim(f[2])); type = trim(f[3]); def = unquote(trim(f[4])); desc = trim(f[5])
	rows++
	if (type == "section" && key !~ /[.\[]/) {
		out = out "## " esc(key) "\n\n" esc(desc) ".\n\n"
		next
	}
	line = "*" esc(key) "* (" esc(type)
	if (def == "required") line = line "; required"
	else if (def != "") line = line "; default: " esc(def)
	out = out line ")\n\t" esc(desc) "\n\n"
	next
}
file == 1 && intable { intable = 0; done = 1 }
file == 2 && /^@KEYS@$/ {
	if (!done || rows < 20) {
		print "config-keys.awk: no key table (" rows " rows) in the first file" > "/dev/stderr"
		bad = 1; exit 1
	}
	printf "%s", out
	next
}
file == 2 { print }
END { if (bad) exit 1 }
