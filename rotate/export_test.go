package rotate

// MaxName lets the external tests build a name one byte too long.
const MaxName = maxName
