package awssm

import (
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/awsname"
)

// Describe tells the cache the rules of Secrets Manager: a read without a
// stage or version id reads AWSCURRENT, BatchGetSecretValue takes up to 20
// ids, and an answer is the secret an id names by name, full ARN or partial
// ARN (the ARN without the random suffix), its name and ARN agreeing.
func (s *Source) Describe() secretcache.Description {
	return secretcache.Description{
		DefaultStage: awsname.StageCurrent,
		MaxBatch:     20, // BatchGetSecretValue's limit; FetchBatch reads it here
		SameSecret: func(id string, sec *secretcache.Secret) bool {
			return awsname.SameSecret(id, sec.Name, sec.ARN) && awsname.ARNNames(sec.ARN, sec.Name)
		},
		NameOf: awsname.NameOf,
	}
}
