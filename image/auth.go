package image

import (
	"context"
	"fmt"
	"net/http"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Credentials live where Docker keeps them: $DOCKER_CONFIG/config.json or
// ~/.docker/config.json (or a credential helper it names), so that docker,
// podman, skopeo and mydocker share one login.

// hubServer is the key Docker files Docker Hub's credentials under.
const hubServer = "https://index.docker.io/v1/"

func (o RegistryOptions) registry(server string) (name.Registry, string, error) {
	if server == "" || server == hubDomain || server == hubRegistry || server == hubServer {
		reg, err := name.NewRegistry(hubRegistry)
		return reg, hubServer, err
	}
	var opts []name.Option
	for _, r := range o.Insecure {
		if r == server {
			opts = append(opts, name.Insecure)
		}
	}
	reg, err := name.NewRegistry(server, opts...)
	if err != nil {
		return reg, "", fmt.Errorf("invalid registry %q: %w", server, err)
	}
	return reg, reg.Name(), nil
}

// Login checks a user name and password against a registry and, once it
// accepts them, stores them.
func Login(ctx context.Context, server, user, password string, o RegistryOptions) error {
	reg, key, err := o.registry(server)
	if err != nil {
		return err
	}
	if user == "" || password == "" {
		return fmt.Errorf("login to %s needs a username and a password", key)
	}
	auth := &authn.Basic{Username: user, Password: password}
	rt, err := transport.NewWithContext(ctx, reg, auth, httpTransport(), []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return loginError(key, err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return loginError(key, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("login to %s failed: unauthorized: incorrect username or password", key)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("login to %s failed: registry answered %s", key, resp.Status)
	}
	cf, err := config.Load(config.Dir())
	if err != nil {
		return err
	}
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{Username: user, Password: password, ServerAddress: key}); err != nil {
		return fmt.Errorf("storing credentials for %s: %w", key, err)
	}
	return cf.Save()
}

func loginError(key string, err error) error {
	if te, ok := err.(*transport.Error); ok && te.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("login to %s failed: unauthorized: incorrect username or password", key)
	}
	return fmt.Errorf("login to %s failed: %v", key, err)
}

// Logout forgets the credentials stored for a registry; it reports whether
// there were any.
func Logout(server string, o RegistryOptions) (bool, error) {
	_, key, err := o.registry(server)
	if err != nil {
		return false, err
	}
	cf, err := config.Load(config.Dir())
	if err != nil {
		return false, err
	}
	if _, ok := cf.AuthConfigs[key]; !ok && cf.CredentialsStore == "" && cf.CredentialHelpers[key] == "" {
		return false, nil
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return false, err
	}
	return true, cf.Save()
}

// ServerKey is the name credentials for server are filed under.
func ServerKey(server string, o RegistryOptions) string {
	_, key, _ := o.registry(server)
	return key
}
