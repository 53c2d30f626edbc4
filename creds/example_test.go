package creds_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/creds"
)

func ExampleParseDatabase() {
	d, err := creds.ParseDatabase(`{"engine":"postgres","host":"db.internal","port":"5432",
		"username":"orders_app","password":"correct horse","dbname":"orders"}`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d) // the password never prints
	fmt.Println(d.PortOrDefault(), d.IsPostgres())
	_, err = creds.ParseDatabase(`{"password": correct horse}`)
	fmt.Println(err)
	// Output:
	// creds.Database{Engine:"postgres" Host:"db.internal" Port:5432 Username:"orders_app" Password:"[REDACTED]" DBName:"orders" MasterARN:""}
	// 5432 true
	// secretcache: parse secret is not valid JSON: database secret: syntax error at offset 14
}

func ExampleDatabase_ConnString() {
	d := creds.Database{Host: "db.internal", Username: "app", Password: "it's", DBName: "orders"}
	cs, err := d.ConnString() // holds the password: hand it to the driver only
	fmt.Println(len(cs) > 0, err)
	_, err = creds.Database{Host: "db.internal", Username: "app"}.ConnString()
	fmt.Println(err)
	// Output:
	// true <nil>
	// secretcache: validate invalid request: field "password": empty
}

func ExampleDatabase_DSN() {
	d := creds.Database{Engine: "mysql", Host: "db.internal", Username: "app", Password: "pw", DBName: "orders"}
	dsn, err := d.DSN()
	fmt.Println(dsn, err)
	// Output: app:pw@tcp(db.internal:3306)/orders <nil>
}

func ExampleDatabase_SecretJSON() {
	d := creds.Database{Engine: "postgres", Host: "db", Port: 5432, Username: "app", Password: "new-pw"}
	raw, _ := d.SecretJSON() // for PutSecretValue in a rotation function
	fmt.Println(string(raw))
	// Output: {"engine":"postgres","host":"db","port":5432,"username":"app","password":"new-pw"}
}

func ExampleParseAPIKey() {
	k, err := creds.ParseAPIKey(`{"apiKey":"sk_live_123","header":"X-Api-Key"}`)
	fmt.Println(k, err)
	h := http.Header{}
	k.Apply(h)
	fmt.Println(h.Get("X-Api-Key") == "sk_live_123")
	_, err = creds.ParseAPIKey(`{}`)
	fmt.Println(err)
	// Output:
	// creds.APIKey{Key:"[REDACTED]" Header:"X-Api-Key"} <nil>
	// true
	// secretcache: validate invalid request: field "api_key": empty
}

func ExampleParseOAuthClient() {
	o, err := creds.ParseOAuthClient(`{"client_id":"svc","client_secret":"shh","token_url":"https://auth.example/token","scope":"read write"}`)
	fmt.Println(o, err, o.Validate())
	// Output: creds.OAuthClient{ClientID:"svc" ClientSecret:"[REDACTED]" TokenURL:"https://auth.example/token" Scopes:["read" "write"] Audience:""} <nil> <nil>
}

func ExampleNewName() {
	n, err := creds.NewName("prod", creds.KindDatabase, "orders")
	fmt.Println(n, err)
	_, err = creds.NewName("prod", "database", "../etc")
	fmt.Println(err)
	// Output:
	// prod/database/orders <nil>
	// secretcache: name invalid request: service: character 3 is not one of a-z A-Z 0-9 - _ . + = @
}

func ExampleParseName() {
	n, err := creds.ParseName("staging/api-key/stripe")
	fmt.Println(n.Environment, n.Kind, n.Service, err)
	_, err = creds.ParseName("staging/stripe")
	fmt.Println(err)
	// Output:
	// staging api-key stripe <nil>
	// secretcache: name invalid request: name has 2 parts, want {environment}/{kind}/{service}
}

func ExampleMustName() {
	fmt.Println(creds.MustName("dev", creds.KindOAuth, "github"))
	// Output: dev/oauth/github
}

func ExamplePrefix() {
	p, _ := creds.Prefix("prod")
	k, _ := creds.KindPrefix("prod", creds.KindDatabase)
	fmt.Println(p, k)
	// Output: prod/ prod/database/
}

func ExampleName_Validate() {
	fmt.Println(creds.Name{Environment: "prod", Kind: "", Service: "x"}.Validate())
	// Output: secretcache: name invalid request: kind: empty
}

// Typed credentials decode straight from the cache with GetJSON.
func Example_getJSON() {
	src := secretcache.SourceFunc(func(_ context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
		return &secretcache.Secret{Name: ref.ID, VersionID: "v1",
			String: `{"engine":"postgres","host":"db","port":5432,"username":"app","password":"pw"}`}, nil
	})
	c, _ := secretcache.New(src)
	defer c.Close()
	d, err := secretcache.GetJSON[creds.Database](context.Background(), c, creds.MustName("prod", creds.KindDatabase, "orders").String())
	fmt.Println(d.Username, d.Port, err)
	// Output: app 5432 <nil>
}
