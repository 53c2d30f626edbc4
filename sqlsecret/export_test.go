package sqlsecret

// DefaultMaxAttempts lets the external tests check the default bound.
const DefaultMaxAttempts = defaultMaxAttempts
