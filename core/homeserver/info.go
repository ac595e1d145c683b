package homeserver

import (
	"net/http"

	"hearth/core/matrixerr"
	"hearth/core/serverkey"
)

// SoftwareName is the name reported by /_matrix/federation/v1/version.
const SoftwareName = "hearth"

// ClientVersions returns the client-server specification versions that
// /_matrix/client/versions advertises.
func ClientVersions() []string {
	return []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12"}
}

// versionsResponse is the body of GET /_matrix/client/versions.
type versionsResponse struct {
	Versions         []string        `json:"versions"`
	UnstableFeatures map[string]bool `json:"unstable_features"`
}

func (s *Server) clientVersions(w http.ResponseWriter, r *http.Request) {
	matrixerr.WriteJSON(w, http.StatusOK, versionsResponse{
		Versions:         ClientVersions(),
		UnstableFeatures: map[string]bool{},
	})
}

func (s *Server) serverKeys(w http.ResponseWriter, r *http.Request) {
	validUntil := s.cfg.Now().Add(s.cfg.KeyValidity).UnixMilli()
	body, err := serverkey.Response(s.cfg.ServerName, s.cfg.SigningKey, validUntil)
	if err != nil {
		s.log.Error("building key response", "err", err)
		matrixerr.Write(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// federationVersionResponse is the body of GET /_matrix/federation/v1/version.
type federationVersionResponse struct {
	Server struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"server"`
}

func (s *Server) federationVersion(w http.ResponseWriter, r *http.Request) {
	var resp federationVersionResponse
	resp.Server.Name = SoftwareName
	resp.Server.Version = s.cfg.Version
	matrixerr.WriteJSON(w, http.StatusOK, resp)
}
