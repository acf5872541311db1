package container

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
)

// newID returns a random 64-hex container ID.
func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

var nameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// ValidateName checks a --name as Docker does.
func ValidateName(name string) error {
	if !nameRe.MatchString(name) || len(name) > 128 {
		return fmt.Errorf("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return nil
}

// Names a container gets when the user gives none, in Docker's style.
var (
	adjectives = []string{"admiring", "adoring", "affectionate", "amazing", "awesome", "blissful", "bold", "brave",
		"charming", "clever", "compassionate", "competent", "confident", "cool", "dazzling", "determined", "eager",
		"ecstatic", "elegant", "epic", "exciting", "fervent", "focused", "friendly", "gallant", "gifted", "goofy",
		"gracious", "happy", "hopeful", "inspiring", "jolly", "keen", "kind", "laughing", "loving", "lucid",
		"magical", "modest", "nice", "nifty", "nostalgic", "optimistic", "peaceful", "practical", "priceless",
		"quirky", "relaxed", "serene", "sharp", "stoic", "sweet", "tender", "trusting", "upbeat", "vibrant",
		"vigilant", "wizardly", "wonderful", "youthful", "zealous", "zen"}
	surnames = []string{"albattani", "allen", "archimedes", "babbage", "bardeen", "bell", "bhabha", "boole",
		"cerf", "curie", "darwin", "dijkstra", "einstein", "euclid", "euler", "fermat", "feynman", "franklin",
		"galileo", "gauss", "goldberg", "hamilton", "hawking", "hopper", "hypatia", "jennings", "johnson",
		"kepler", "knuth", "lamport", "leakey", "lovelace", "mccarthy", "meitner", "mendel", "morse", "newton",
		"nobel", "noether", "pascal", "pike", "poincare", "ritchie", "shannon", "sinoussi", "stallman",
		"thompson", "torvalds", "turing", "varahamihira", "wescoff", "wilson", "wozniak", "wright", "yalow"}
)

// randomName returns adjective_surname; retry > 0 appends a digit, as
// Docker does once plain names start colliding.
func randomName(retry int) string {
	pick := func(list []string) string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
		return list[n.Int64()]
	}
	name := pick(adjectives) + "_" + pick(surnames)
	if retry > 0 {
		n, _ := rand.Int(rand.Reader, big.NewInt(10))
		name = fmt.Sprintf("%s%d", name, n.Int64())
	}
	return name
}
