// Package render writes secrets into files for programs that read their
// credentials only from files (nginx, a JVM's properties file, a legacy
// binary): a text/template with secret functions, executed against a cache,
// and an atomic writer.
//
// The template functions are:
//
//	secret ID            the value of secret ID (a string secret)
//	secretField ID KEY   one top-level key of a JSON secret
//	secretJSON ID        the decoded JSON object: {{ (secretJSON "prod/db").password }}
//	base64Encode S, base64Decode S
//	shellQuote S         a POSIX shell single-quoted word
//	jsonQuote S          a JSON string literal, quotes included
//	yamlQuote S          a YAML double-quoted scalar
//	propertiesEscape S   a Java .properties value
//	index X K...         text/template's index, checked: a missing map key
//	                     is an error naming the key (exit 6 in "secretcache
//	                     render"), an index out of range an error
//
// secretJSON keeps numbers as written (json.Number: 123456789 renders as
// 123456789). jsonQuote, yamlQuote and propertiesEscape refuse text that
// is not UTF-8 (an error; nothing is replaced). yamlQuote escapes every
// character a YAML 1.1 or 1.2 parser would refuse, fold or trim (C0 and C1
// controls, DEL, U+2028, U+2029, U+FEFF, U+FFFE, U+FFFF).
//
// Templates run with missingkey=error: a missing secret, field or map key
// fails the render and the destination keeps its old content. Errors name
// the template, the secret and the key, never a value: once a secret was
// read, an execution error keeps only the location, the failing action's
// source text, and the error of this package's own function when it names
// only literals of the template (ids, keys); anything else of
// text/template's message is withheld, since it may quote a value or
// something derived from one.
//
// WriteFile replaces a file atomically (a temporary file in the same
// directory, fsync, rename, fsync of the directory), writes nothing when
// the bytes are the same, and creates files 0600 and directories 0700
// unless told otherwise. A reader never sees a partial or empty file.
//
// It is not a template language of its own, a watcher of files, or a
// process manager: the agent's [[template]] table and "secretcache render"
// call it, and File.Command is one command run after a change.
package render
