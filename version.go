package secretcache

// Version is the version of this module, sent in the user agent of backend calls.
const Version = "0.1.0"
