package httpsecret

// MaxValue lets the external tests build a credential one byte too long.
const MaxValue = maxValue
